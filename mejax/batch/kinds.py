"""Model kinds that batch fitting, simulation and the bootstrap know about.

A kind tells the generic machinery how to refit a fitted model to many
responses, how to draw responses from it and what its point estimates are
(under the batch frame's column names). The linear mixed model registers
itself for :class:`~mejax.results.mixed_result.MixedResult`
(:mod:`mejax.batch.lmm`); another model registers for its own result type::

    register_kind(GlmmResult, GlmmKind())

Lookup follows the result type's MRO, so a subclass's own kind wins.
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


def register_kind(result_type: type, kind: BatchKind) -> None:
    """Make ``kind`` handle batch fits, simulation and the bootstrap of ``result_type``."""
    _KINDS[result_type] = kind


def kind_for(result) -> BatchKind:
    for cls in type(result).__mro__:
        if cls in _KINDS:
            return _KINDS[cls]
    raise TypeError(f"batch fitting is not available for {type(result).__name__}")
