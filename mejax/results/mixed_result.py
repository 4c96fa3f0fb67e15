"""``MixedResult``, the name of the one result type that ``mixed`` and README use.

:class:`~.fit_result.FitResult` is every mixed model's result; the linear model
is its Gaussian identity preset (:mod:`mejax.fit.lmm_report`).
"""

from __future__ import annotations

from .fit_result import FitResult

MixedResult = FitResult

__all__ = ["MixedResult"]
