"""The GLMM functional API: pure log likelihood and implicit derivatives of the fit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import expit

import mejax
from mejax import functional as mf


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(15), 12)
    x = rng.normal(size=g.size)
    y = rng.binomial(1, expit(-0.2 + 0.9 * x + rng.normal(scale=0.8, size=15)[g]))
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_loglik_and_fit_agree_with_meglm():
    df = _data()
    res = mejax.melogit("y ~ x + (1 | g)", df, method="laplace")
    data = mf.glmm_data("y ~ x + (1 | g)", df, method="laplace")
    assert abs(float(jax.jit(mf.glmm_loglik)(data.params0, data)) - res.loglik) < 1e-9
    est = mf.glmm_fit(data, data.params0 + 0.05)
    np.testing.assert_allclose(est, res.params, atol=2e-4)


def test_fit_derivative_matches_finite_differences():
    data = mf.glmm_data("y ~ x + (1 | g)", _data(), method="laplace")
    offset = data.arrays["offset"]
    direction = jnp.asarray(np.random.default_rng(1).normal(size=offset.shape))

    @jax.jit  # one compile for the three refits below; eager, each would trace its own
    def slope(step):
        return mf.glmm_fit(data.replace(offset=offset + step * direction))[1]

    grad = float(jax.jit(jax.grad(slope))(0.0))
    # refits stop at a tolerance of about 1e-6 in the estimates: a step of 0.02 keeps
    # that noise below 1e-4 of the derivative, the curvature error O(h²) too
    h = 0.02
    numeric = float((slope(h) - slope(-h)) / (2 * h))
    assert abs(grad - numeric) < 2e-3 * max(abs(numeric), 1e-3)
    # and exactly the implicit-function formula −H⁻¹ ∂²ℓ/∂p∂ε, written out
    est = jax.jit(mf.glmm_fit)(data)

    def score(p, step):
        return jax.grad(mf.glmm_loglik)(p, data.replace(offset=offset + step * direction))

    hess = jax.jit(jax.jacfwd(score, 0))(est, 0.0)
    cross = jax.jit(jax.jacfwd(score, 1))(est, 0.0)
    assert abs(grad - float(-jnp.linalg.solve(hess, cross)[1])) < 1e-6
