"""Outcome arrays of a GLMM: validated response, trials, offset (host side, numpy).

Checks happen here, before anything is traced: counts must be non-negative
integers, binomial successes must lie in 0..trials, an ordinal outcome needs
two categories, exposures must be positive. A binary outcome with values
other than 0/1 is recoded as Stata does (nonzero is a success) and a note says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from .family import Family
from .model import DataError


@dataclass
class GlmData:
    """Per-row arrays the traced log likelihood reads, and what was done to the response."""

    family: Family
    data: dict[str, np.ndarray]
    offset: np.ndarray
    categories: list = field(default_factory=list)  # ordinal outcome values, in order
    notes: list[str] = field(default_factory=list)

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def _is_integer(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def _binomial(family: Family, frame, y: np.ndarray, response: str, notes: list[str]):
    if family.trials is None:
        if not np.isin(y, (0.0, 1.0)).all():
            note = (f"{response} has values other than 0 and 1; as Stata does, nonzero "
                    "values are treated as successes (1)")
            warnings.warn(note, stacklevel=4)
            notes.append(note)
            y = (y != 0).astype(float)
        trials = np.ones_like(y)
    else:
        if isinstance(family.trials, str):
            if not frame.numeric[family.trials]:
                raise DataError(f"binomial trials variable {family.trials!r} must be numeric")
            trials = frame.values(family.trials)
        else:
            trials = np.full_like(y, float(family.trials))
        if np.any(trials < 1) or not _is_integer(trials):
            raise DataError(f"binomial trials {family.trials!r} must be positive integers")
        if np.any(y < 0) or np.any(y > trials) or not _is_integer(y):
            raise DataError(f"{response} must be an integer count of successes between 0 and "
                            f"the number of trials ({family.trials})")
    if np.all(y == 0) or np.all(y == trials):
        raise DataError(f"outcome {response} does not vary: every observation is a "
                        f"{'failure' if np.all(y == 0) else 'success'}")
    log_choose = gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)
    return {"y": y, "trials": trials, "log_choose": log_choose}


def _count(y: np.ndarray, response: str):
    if np.any(y < 0):
        raise DataError(f"count outcome {response} has negative values")
    if not _is_integer(y):
        raise DataError(f"count outcome {response} has non-integer values")
    return {"y": y, "log_fact": gammaln(y + 1)}


def _ordinal(y: np.ndarray, response: str):
    categories = sorted(np.unique(y).tolist())
    if len(categories) < 2:
        raise DataError(f"ordinal outcome {response} has a single category "
                        f"({categories[0]:g}); there is nothing to model")
    codes = np.searchsorted(np.asarray(categories), y).astype(np.int32)
    return {"y": y, "y_code": codes}, categories


def _offset(family: Family, frame) -> np.ndarray:
    n = len(frame)
    if family.offset:
        if not frame.numeric[family.offset]:
            raise DataError(f"offset variable {family.offset!r} must be numeric")
        return frame.values(family.offset).copy()
    if family.exposure:
        if not frame.numeric[family.exposure]:
            raise DataError(f"exposure variable {family.exposure!r} must be numeric")
        exposure = frame.values(family.exposure)
        if np.any(exposure <= 0):
            raise DataError(f"exposure variable {family.exposure!r} must be positive")
        return np.log(exposure)
    return np.zeros(n)


def build_glm_data(family: Family, frame, y: np.ndarray, response: str) -> GlmData:
    """Validate the response for ``family`` and build the row arrays."""
    notes: list[str] = []
    categories: list = []
    if family.name == "binomial":
        data = _binomial(family, frame, y, response, notes)
    elif family.name in ("poisson", "nbinomial"):
        data = _count(y, response)
    else:
        data, categories = _ordinal(y, response)
    return GlmData(family, data, _offset(family, frame), categories, notes)
