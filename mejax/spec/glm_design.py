"""Outcome arrays of a GLMM: validated response, trials, offset (host side, numpy).

Checks happen here, before anything is traced, and belong to the family
(:meth:`mejax.families.Family.validate`): counts must be non-negative integers,
binomial successes must lie in 0..trials, an ordinal outcome needs two
categories, exposures must be positive. A binary outcome with values other
than 0/1 is recoded as Stata does (nonzero is a success) and a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..families import Family


@dataclass
class GlmData:
    """Per-row arrays the traced log likelihood reads, and what was done to the response."""

    family: Family
    data: dict[str, np.ndarray]
    offset: np.ndarray
    categories: tuple = ()  # ordinal outcome values, in order
    notes: list[str] = field(default_factory=list)
    given: dict[str, np.ndarray] = field(default_factory=dict)  # Family.given_values

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @property
    def trials(self) -> np.ndarray:
        return self.data.get("trials", np.ones(len(self.offset)))


def build_glm_data(family: Family, frame, y: np.ndarray, response: str) -> GlmData:
    """Validate the response for ``family`` and build the row arrays."""
    given = family.given_values(frame, len(y))
    checked = family.validate(y, given, response)
    given = {**given, **checked.given}
    data, _ = family.response_rows(checked.y, given, checked.categories)
    return GlmData(family, data, family.offset_values(frame), checked.categories,
                   list(checked.notes), given)
