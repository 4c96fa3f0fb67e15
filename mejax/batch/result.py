"""Per-fit status codes and the result of a batch fit (any model kind)."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..fit.mixed import ConvergenceWarning

CONVERGED = 0
NOT_CONVERGED = 1  # stopped without meeting the convergence criteria; estimates kept
BAD_INPUT = 2  # non-finite values in this fit's data: not fitted, estimates NaN
FAILED = 3  # the fit produced non-finite estimates or criterion
STATUS = {CONVERGED: "converged", NOT_CONVERGED: "not converged",
          BAD_INPUT: "non-finite input", FAILED: "failed"}


def status_codes(bad_input: np.ndarray, finite: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """One code per fit from its input check, output check and convergence test."""
    codes = np.where(converged, CONVERGED, NOT_CONVERGED)
    codes = np.where(finite, codes, FAILED)
    return np.where(bad_input, BAD_INPUT, codes).astype(np.int8)


@dataclass
class BatchResult:
    """Many fits of one model structure: a DataFrame with one row per fit.

    ``frame`` columns: the estimates (fixed effects, then variance components on
    Stata's scale including the residual variance), then ``loglik``,
    ``converged``, ``code``, ``status`` and ``steps``. Codes: 0 converged,
    1 not converged, 2 non-finite input, 3 failed (:data:`STATUS`). A fit that
    fails never stops the others.

    ``outputs`` holds the per-fit arrays behind the frame (``beta``, ``vcov``,
    ``theta``, ...) for tests and intervals; ``timings`` the wall time of the
    run and of its first chunk (which includes compiling or loading the program).
    """

    frame: pd.DataFrame
    estimate_columns: list[str]
    fixef_columns: list[str]
    outputs: dict[str, np.ndarray] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    kind: str = "mixed"

    def __len__(self) -> int:
        return len(self.frame)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def codes(self) -> np.ndarray:
        return self.frame["code"].to_numpy()

    @property
    def converged(self) -> np.ndarray:
        return self.frame["converged"].to_numpy()

    @property
    def n_failed(self) -> int:
        """Fits that did not converge, failed or had non-finite input."""
        return int(np.sum(self.codes != CONVERGED))

    def estimates(self, converged_only: bool = True) -> pd.DataFrame:
        """The estimate columns, by default of the converged fits only."""
        frame = self.frame[self.estimate_columns]
        return frame[self.converged] if converged_only else frame

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {STATUS[c]}" for c, n in
                           zip(*np.unique(self.codes, return_counts=True)))
        return f"<BatchResult {self.kind}: {len(self)} fits ({counts})>"

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()


def warn_failures(codes: np.ndarray, what: str = "fits") -> None:
    """One warning that counts the fits that did not converge or failed."""
    bad = {STATUS[c]: int(np.sum(codes == c)) for c in (NOT_CONVERGED, BAD_INPUT, FAILED)
           if np.any(codes == c)}
    if bad:
        detail = ", ".join(f"{n} {s}" for s, n in bad.items())
        warnings.warn(f"{sum(bad.values())} of {len(codes)} {what}: {detail} "
                      "(see the 'status' column)", ConvergenceWarning,
                      stacklevel=_caller_level())


def _caller_level() -> int:
    """Stack level of the first frame outside mejax, so the warning points at user code."""
    package = Path(__file__).resolve().parent.parent
    frame, level = sys._getframe(1), 1
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(package):
        frame, level = frame.f_back, level + 1
    return level
