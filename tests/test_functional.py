"""mejax.functional: pure log likelihood and a fit differentiable in its data.

Derivatives of the estimates (implicit differentiation at the optimum, inside
jax.jit) are checked against central finite differences of refits.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mejax
import mejax.functional as mf

FORMULA = "y ~ x + (1 | g)"


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(8), 5)
    x = rng.normal(size=40)
    y = 1 + 0.5 * x + rng.normal(size=8)[g] + rng.normal(size=40)
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.fixture(scope="module")
def data(frame):
    return mf.lmm_data(FORMULA, frame)


def _outputs(y, w, x, data):
    est = mf.fit(data.replace(y=y, weights=w, x=x))
    return jnp.stack([est.beta[1], est.sigma2, est.loglik, est.theta[0]])


def test_fit_and_loglik_match_mixed(frame, data):
    est = jax.jit(mf.fit)(data)
    ref = mejax.mixed(FORMULA, frame)
    assert bool(est.converged)
    np.testing.assert_allclose(est.beta, ref.fixef.to_numpy(), rtol=1e-6)
    assert float(est.sigma2) == pytest.approx(ref.sigma2, rel=1e-6)
    assert float(est.loglik) == pytest.approx(ref.loglik, abs=1e-8)
    loglik = jax.jit(mf.loglik)
    assert float(loglik(mf.params(est), data)) == pytest.approx(ref.loglik, abs=1e-8)
    # away from the optimum the ML log likelihood is lower
    moved = dict(mf.params(est), beta=est.beta + jnp.array([0.1, 0.0]))
    assert float(loglik(moved, data)) < ref.loglik
    # REML: the restricted log likelihood at mixed's REML estimates
    reml_ref = mejax.mixed(FORMULA, frame, reml=True)
    reml_data = mf.lmm_data(FORMULA, frame, reml=True)
    params = {"theta": jnp.asarray(reml_ref.theta), "beta": jnp.asarray(reml_ref.fixef),
              "log_sigma": 0.5 * jnp.log(reml_ref.sigma2)}
    assert float(loglik(params, reml_data)) == pytest.approx(reml_ref.loglik, abs=1e-8)


def test_loglik_gradient_matches_finite_differences(data):
    params = {"theta": jnp.array([0.8]), "beta": jnp.array([0.9, 0.4]),
              "log_sigma": jnp.array(0.1)}
    grad = jax.jit(jax.grad(mf.loglik))(params, data)
    loglik = jax.jit(mf.loglik)
    eps = 1e-6
    for name, i in (("theta", 0), ("beta", 1)):
        up = dict(params, **{name: params[name].at[i].add(eps)})
        down = dict(params, **{name: params[name].at[i].add(-eps)})
        fd = (loglik(up, data) - loglik(down, data)) / (2 * eps)
        assert float(grad[name][i]) == pytest.approx(float(fd), rel=1e-5, abs=1e-7)


def test_fit_derivatives_match_finite_differences(data):
    """d(slope, σ², loglik, θ)/d(y_i, w_i, x_i) by implicit differentiation vs refits."""
    y, w, x = data.y, data.weights, data.x
    jac = jax.jit(jax.jacrev(_outputs, argnums=(0, 1, 2)))(y, w, x, data)
    forward = jax.jit(_outputs)
    eps = 1e-5
    for i in (0, 17, 33):
        for arg, (array, shift) in enumerate(((y, 1.0), (w, 0.1), (x, 1.0))):
            def moved(step, array=array, i=i, shift=shift):
                return array.at[(i, 1) if array.ndim == 2 else i].add(step * shift)
            args = [y, w, x]
            args[arg] = moved(eps)
            up = forward(*args, data)
            args[arg] = moved(-eps)
            down = forward(*args, data)
            fd = (up - down) / (2 * eps * shift)
            got = jac[arg][:, i, 1] if arg == 2 else jac[arg][:, i]
            np.testing.assert_allclose(got, fd, rtol=2e-4, atol=1e-6)
    # exact: adding s·x to y adds s to the slope and leaves the variance parameters alone
    along_x = jac[0] @ x[:, 1]
    np.testing.assert_allclose(along_x, [1.0, 0.0, 0.0, 0.0], atol=1e-8)


def test_filter_grad_over_the_data_pytree(data):
    grad = eqx.filter_jit(eqx.filter_grad(lambda d: mf.profiled_deviance(jnp.array([0.7]), d)))
    grads = grad(data)
    assert grads.y.shape == data.y.shape and grads.rows["c1"] is None


def test_bad_weights(frame):
    with pytest.raises(mejax.DataError, match="positive"):
        mf.lmm_data(FORMULA, frame, weights=np.zeros(40))
