"""The type post-estimation takes: a fitted model.

The result types (:mod:`mejax.results`) sit above post-estimation and inherit
:class:`FittedModel`, so functions here can check what they were given
without importing the layer above them.
"""

from __future__ import annotations

import abc

import numpy as np
from scipy import special  # scipy.stats costs 0.6 s of import time; special does not

from ..errors import FitError


class FittedModel(abc.ABC):  # noqa: B024 (a marker: its members are the result type's)
    """A model fitted by mejax (``mejax.mixed``, ``mejax.melogit``, ``mejax.menl``, ...).

    What every fit answers from its ``loglik``, ``n_params``, ``nobs`` and ``level``
    is written here once.
    """

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.n_params

    @property
    def _z(self) -> float:
        """The normal quantile of the confidence level (1.96 at 95%)."""
        return float(special.ndtri(0.5 + self.level / 200))


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
