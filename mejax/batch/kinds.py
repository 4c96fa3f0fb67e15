"""Model kinds that batch fitting, simulation and the bootstrap know about.

A kind tells the generic machinery how to refit a fitted model to many
responses, how to draw responses from it and what its point estimates are
(under the batch frame's column names). A kind is registered for the static
structure of the model it refits, the ``model`` of a result
(:class:`~mejax.models.lmm.LmmStructure` for the linear preset)::

    register_kind(GlmmStructure, GlmmKind())

Lookup follows the structure type's MRO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd

from .result import BatchResult


class Simulator(Protocol):
    """Draws responses from a fitted model, in the estimation sample's row order."""

    nobs: int

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, nobs) responses; consecutive calls continue one random stream."""
        ...


class BatchKind(Protocol):
    def refit(self, result, responses: np.ndarray | Callable[[int, int], np.ndarray],
              n: int | None = None, *, start: str = "default", chunk_size: int | None = None,
              progress: bool | None = None, devices=None) -> BatchResult:
        """Fit ``result``'s model to a stack of responses, or to ``n`` made on demand.

        ``start="estimate"`` starts every fit at ``result``'s estimates.
        """
        ...

    def simulator(self, result) -> Simulator: ...

    def point_estimates(self, result) -> pd.Series: ...


_KINDS: dict[type, BatchKind] = {}


def register_kind(model_type: type, kind: BatchKind) -> None:
    """Make ``kind`` handle batch fits, simulation and the bootstrap of results whose
    ``model`` is a ``model_type``."""
    _KINDS[model_type] = kind


def kind_for(result) -> BatchKind:
    for cls in type(result.model).__mro__:
        if cls in _KINDS:
            return _KINDS[cls]
    raise TypeError(f"batch fitting is not available for {type(result.model).__name__} models")
