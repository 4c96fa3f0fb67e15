"""The nested engine's derivative at fixed grids (``order`` 0), which single fits use.

* the value is the exact one's and the gradient differs from the exact gradient
  (``order`` 1, itself checked against finite differences in test_glmm_nested) by
  the quadrature's sensitivity to the grid: far below the fit's tolerance;
* a fit that uses it (7-point mean-variance quadrature, the Stata default) reaches the
  maximum that scipy's BFGS finds with the exact gradient, and its observed
  information equals the central differences of the exact gradient there;
* the fit asks for it only where quadrature has enough points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize
from test_glmm_nested import PARAMS, _design, _two_level_data

import mejax
from mejax.fit.glmm import prepare
from mejax.models.glmm import FIXED_GRID_NODES, fit_gradient_order, marginal_loglik

VALUE_AND_GRAD = jax.jit(jax.value_and_grad(marginal_loglik), static_argnums=(2, 3))
FORMULA = "y ~ x + (1 | school) + (1 | cls)"


@pytest.fixture(scope="module")
def seven_points():
    data = _two_level_data()
    model, arrays = prepare(_design(FORMULA, data), "mvaghq", 7)
    return data, model, arrays


def _exact(params, model, arrays):
    value, grad = VALUE_AND_GRAD(jnp.asarray(params), arrays, model, 1)
    return float(value), np.asarray(grad)


def test_fixed_grid_gradient_is_the_exact_one_within_quadrature_error(seven_points):
    _, model, arrays = seven_points
    value, grad = VALUE_AND_GRAD(jnp.asarray(PARAMS), arrays, model, 0)
    exact_value, exact_grad = _exact(PARAMS, model, arrays)
    assert float(value) == pytest.approx(exact_value, abs=1e-10)
    assert np.max(np.abs(exact_grad)) > 1.0  # away from the maximum
    np.testing.assert_allclose(np.asarray(grad), exact_grad, rtol=0, atol=1e-4)
    assert not np.allclose(np.asarray(grad), exact_grad, rtol=0, atol=1e-12)  # not the same


def test_fit_at_fixed_grids_reaches_the_exact_maximum(seven_points):
    data, model, arrays = seven_points
    res = mejax.melogit(FORMULA, data)
    assert res.converged and (res.integration, res.nodes) == ("mvaghq", 7)
    best = optimize.minimize(lambda p: tuple(-v for v in _exact(p, model, arrays)), PARAMS,
                             jac=True, method="BFGS", options={"gtol": 1e-9})
    assert res.loglik == pytest.approx(-best.fun, abs=1e-8)
    np.testing.assert_allclose(res.params, best.x, atol=2e-5)
    h = 1e-5  # the information: central differences of the exact gradient
    info = -np.array([(_exact(best.x + h * e, model, arrays)[1]
                       - _exact(best.x - h * e, model, arrays)[1]) / (2 * h)
                      for e in np.eye(best.x.size)])
    np.testing.assert_allclose(res.observed_information, 0.5 * (info + info.T), rtol=1e-4,
                               atol=1e-4)


def test_fit_asks_for_fixed_grids_only_with_enough_points(seven_points):
    data, model, _ = seven_points
    assert model.nodes == FIXED_GRID_NODES and fit_gradient_order(model) == 0
    design = _design(FORMULA, data)
    assert fit_gradient_order(prepare(design, "mvaghq", 3)[0]) == 1
    assert fit_gradient_order(prepare(design, "laplace", 1)[0]) == 1  # the joint Laplace
    one_level = prepare(_design("y ~ x + (1 | school)", data), "mvaghq", 7)[0]
    assert one_level.engine == "grouped" and fit_gradient_order(one_level) == 1
