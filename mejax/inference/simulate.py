"""Draw responses from a fitted model: ``fit.simulate(n, seed)``.

The simulators live with the batch kinds (:mod:`mejax.batch.simulate` for linear
models, :mod:`mejax.batch.glmm` for GLMMs); each kind knows how to draw from
its own model.
"""

from __future__ import annotations

import numpy as np

from ..batch.kinds import kind_for


def simulate(result, n: int = 1, seed=None) -> np.ndarray:
    """(n, nobs) responses drawn from a fitted model (new random effects and residuals)."""
    if int(n) < 1:
        raise ValueError(f"n must be a positive number of draws, got {n}")
    return kind_for(result).simulator(result).draw(np.random.default_rng(seed), int(n))
