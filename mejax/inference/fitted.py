"""The type post-estimation takes: a fitted model.

The result types (:mod:`mejax.results`) sit above post-estimation and inherit
:class:`FittedModel`, so functions here can check what they were given
without importing the layer above them.
"""

from __future__ import annotations

import abc

import numpy as np

from ..errors import FitError


class FittedModel(abc.ABC):  # noqa: B024 (a marker: its members are the result type's)
    """A model fitted by mejax (``mejax.mixed``, ``mejax.melogit``, ...)."""

    @property
    def response_label(self) -> str:
        """How tables and tests name the outcome's equation (``_t`` after mestreg)."""
        return self.design.response


def require_estimates(result: FittedModel, what: str) -> None:
    """Raise :class:`FitError` when ``result``'s fit failed, before ``what`` needs its estimates.

    A fit that ran into non-finite values (an overflowing response, a singular
    model) warned when it was made; without this, predictions and BLUPs would
    fail later inside a factorization with a message about matrices.
    """
    values = np.concatenate([np.asarray(result.fixef, dtype=float), [result.sigma2]])
    failed = not np.all(np.isfinite(values)) or (
        not result.converged and not np.isfinite(result.loglik))
    if not failed:
        return
    raise FitError(
        f"{what} is not available: the fit failed (log likelihood {result.loglik:.6g}, "
        f"converged={result.converged}), so its estimates are not finite. Refit after "
        "rescaling extreme variables (a response or covariate near 1e±150 overflows), "
        "dropping empty or constant columns, or simplifying the random part")
