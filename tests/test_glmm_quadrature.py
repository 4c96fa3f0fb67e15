"""GLMM integration checked against computations written independently of mejax.

* closed-form scores and curvatures of every family equal autodiff of the log density;
* two-dimensional adaptive quadrature (mean-variance and mode-curvature) equals a
  brute-force trapezoid integral over a fine grid on the b scale, computed in numpy;
* one-node mode-curvature quadrature is the Laplace approximation;
* the observed information (central differences of the exact gradient) equals
  autodiff's forward-over-reverse Hessian, which is exact through the mode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import expit

import mejax
from mejax.fit.glmm import observed_information
from mejax.models.glmm import marginal_loglik


def _slope_data(seed: int = 3, groups: int = 10, per_group: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per_group)
    x = rng.normal(size=g.size)
    b = rng.multivariate_normal([0, 0], [[1.0, 0.3], [0.3, 0.5]], size=groups)
    eta = -0.3 + 0.8 * x + b[g, 0] + b[g, 1] * x
    return pd.DataFrame({"y": rng.binomial(1, expit(eta)), "x": x, "g": g})


def _brute_force_loglik(data: pd.DataFrame, beta, cov, points: int = 241) -> float:
    """Σ_g log ∫ Π p(y|b) N(b; 0, Σ) db by the trapezoid rule on a wide grid around the mode."""
    chol = np.linalg.cholesky(cov)
    prec = np.linalg.inv(cov)
    total = 0.0
    for _, rows in data.groupby("g"):
        x, y = rows["x"].to_numpy(), rows["y"].to_numpy()

        def neg_log_post(b, x=x, y=y):
            eta = beta[0] + beta[1] * x + b[0] + b[1] * x
            return -(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * b @ prec @ b)

        mode = optimize.minimize(neg_log_post, np.zeros(2), method="BFGS").x
        half = 9.0 * np.sqrt(np.diag(cov))
        a0 = np.linspace(mode[0] - half[0], mode[0] + half[0], points)
        a1 = np.linspace(mode[1] - half[1], mode[1] + half[1], points)
        b0, b1 = np.meshgrid(a0, a1, indexing="ij")
        eta = beta[0] + beta[1] * x[None, None, :] + b0[..., None] + b1[..., None] * x
        log_lik = np.sum(y * eta - np.logaddexp(0, eta), axis=-1)
        quad = np.einsum("...a,ab,...b->...", np.stack([b0, b1], -1), prec,
                         np.stack([b0, b1], -1))
        log_f = log_lik - 0.5 * quad
        peak = log_f.max()
        integral = np.trapezoid(np.trapezoid(np.exp(log_f - peak), a1, axis=1), a0)
        total += peak + np.log(integral) - np.log(2 * np.pi) - np.sum(np.log(np.diag(chol)))
    return total


@pytest.mark.parametrize("method", ["mvaghq", "mcaghq"])
def test_two_dimensional_adaptive_quadrature_matches_brute_force(method):
    data = _slope_data()
    res = mejax.melogit("y ~ x + (1 + x | g)", data, method=method, nodes=20)
    assert res.converged
    vc = res.varcomp
    cov = np.array([[vc.estimate[0], vc.estimate[2]], [vc.estimate[2], vc.estimate[1]]])
    brute = _brute_force_loglik(data, res.fixef.to_numpy(), cov)
    assert abs(res.loglik - brute) < 1e-6


def test_one_node_mode_curvature_is_laplace():
    data = _slope_data(seed=5)
    laplace = mejax.melogit("y ~ x + (1 + x | g)", data, method="laplace")
    one = mejax.melogit("y ~ x + (1 + x | g)", data, method="mcaghq", nodes=1)
    assert abs(laplace.loglik - one.loglik) < 1e-9
    np.testing.assert_allclose(laplace.fixef, one.fixef, rtol=1e-7)


def test_observed_information_equals_autodiff_hessian():
    res = mejax.melogit("y ~ x + (1 + x | g)", _slope_data(seed=7), method="laplace")
    model, arrays = res.model, res._fit["arrays"]
    params = jnp.asarray(res.params)
    # compiled: op by op, tracing the Newton search's Hessian costs minutes
    hessian = jax.jit(jax.hessian(marginal_loglik), static_argnums=(2, 3))
    exact = -hessian(params, arrays, model, 2)
    differenced = observed_information(params, arrays, model)
    np.testing.assert_allclose(differenced, exact, rtol=1e-6, atol=1e-6)
    # one Newton step through the mode would not give exact second derivatives
    one_step = -hessian(params, arrays, model, 1)
    assert np.max(np.abs(one_step - exact)) > 1e-6
