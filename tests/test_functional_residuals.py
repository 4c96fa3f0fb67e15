"""mejax.functional under residual structures: the same likelihood and estimates as mixed.

On the random-intercept panel of tests/test_residuals.py: the functional log
likelihood at mixed's estimates equals mixed's, its gradient vanishes there, the
functional fit reproduces mixed's estimates, and a vmapped fit over a stack of
responses gives each response's own mixed fit; with weights, the log likelihood
equals a dense one written out here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_residuals import _panel

import mejax
import mejax.functional as mf
from mejax import Residuals

CASES = {
    # AR(1) errors within subjects, beside a random intercept
    "ar1": ("y ~ x + (1 | id)", "ar 1, t(time)", {}),
    # unstructured within-subject covariance and no random effects
    "unstructured": ("y ~ x", Residuals("unstructured", t="time", group="id"),
                     {"groups": 60, "times": 4, "drop": 0.1}),
}


# one compiled program per function and model, shared by the tests
VALUE_AND_GRAD = jax.jit(jax.value_and_grad(mf.loglik))
FIT = jax.jit(mf.fit)


def _params(fit) -> dict:
    return {"theta": jnp.asarray(fit.theta), "beta": jnp.asarray(fit.fixef.to_numpy()),
            "log_sigma": 0.5 * jnp.log(fit.sigma2)}


@functools.cache
def _case(name: str):
    """(panel, mixed's fit, the functional data) of a case, made once per module."""
    formula, residuals, panel = CASES[name]
    frame = _panel(**panel)
    ref = mejax.mixed(formula, frame, residuals=residuals)
    assert ref.converged
    return frame, ref, mf.lmm_data(formula, frame, residuals=residuals)


@pytest.mark.parametrize("name", list(CASES))
def test_loglik_at_mixed_estimates_and_stationary(name):
    _, ref, data = _case(name)
    value, grad = VALUE_AND_GRAD(_params(ref), data)
    assert float(value) == pytest.approx(ref.loglik, abs=1e-8)
    for name, g in grad.items():  # mixed stops at |∂(deviance/n)/∂θ| < 1e-4
        assert float(jnp.max(jnp.abs(g))) < 1e-3, name
    # away from the optimum the log likelihood is lower, in the residual parameters too
    moved = dict(_params(ref), theta=_params(ref)["theta"].at[-1].add(0.05))
    assert float(VALUE_AND_GRAD(moved, data)[0]) < ref.loglik - 1e-6


@pytest.mark.parametrize("name", ["ar1", "unstructured"])
def test_fit_reproduces_mixed(name):
    _, ref, data = _case(name)
    est = FIT(data)
    assert bool(est.converged)
    assert float(est.loglik) == pytest.approx(ref.loglik, abs=1e-7)
    np.testing.assert_allclose(est.beta, ref.fixef.to_numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(est.theta, ref.theta, rtol=1e-4, atol=1e-5)
    assert float(est.sigma2) == pytest.approx(ref.sigma2, rel=1e-4)
    np.testing.assert_allclose(est.vcov, ref.vcov.to_numpy(), rtol=1e-4)


def test_vmap_over_responses_matches_mixed_per_response():
    frame, ref, data = _case("ar1")
    y2 = frame["y"].to_numpy() + 0.3 * np.sin(np.arange(len(frame)))
    ys = jnp.stack([data.y, jnp.asarray(y2)])
    fits = jax.jit(jax.vmap(lambda y: mf.fit(data.replace(y=y))))(ys)
    other = mejax.mixed("y ~ x + (1 | id)", frame.assign(y=y2), residuals="ar 1, t(time)")
    for i, want in enumerate((ref, other)):
        assert bool(fits.converged[i])
        assert float(fits.loglik[i]) == pytest.approx(want.loglik, abs=1e-7)
        np.testing.assert_allclose(fits.beta[i], want.fixef.to_numpy(), rtol=1e-5, atol=1e-7)
    # the log likelihood vmaps too, at one set of parameters
    logliks = jax.vmap(lambda y: mf.loglik(_params(ref), data.replace(y=y)))(ys)
    assert float(logliks[0]) == pytest.approx(ref.loglik, abs=1e-8)


def test_weighted_ar1_matches_dense_likelihood():
    """Weights w_i under AR(1): V_g = σ²(θ²11' + W_g^{-1/2} C_g W_g^{-1/2}), C = ρ^|Δt|."""
    frame, ref, data = _case("ar1")
    w = np.random.default_rng(5).uniform(0.5, 2.0, len(frame))
    params = _params(ref)
    value = float(VALUE_AND_GRAD(params, data.replace(weights=jnp.asarray(w)))[0])
    theta_u, rho = float(params["theta"][0]), float(np.tanh(params["theta"][1]))
    s2, beta = ref.sigma2, params["beta"]
    want = 0.0
    for _, g in frame.assign(w=w).groupby("id"):
        t = g["time"].to_numpy(float)
        scale = 1.0 / np.sqrt(g["w"].to_numpy())
        v = s2 * (theta_u**2 + scale[:, None] * rho ** np.abs(t[:, None] - t[None, :])
                  * scale[None, :])
        r = g["y"].to_numpy() - np.column_stack([np.ones(len(g)), g["x"]]) @ np.asarray(beta)
        want -= 0.5 * (np.linalg.slogdet(v)[1] + r @ np.linalg.solve(v, r)
                       + len(g) * np.log(2 * np.pi))
    assert value == pytest.approx(want, abs=1e-8)
