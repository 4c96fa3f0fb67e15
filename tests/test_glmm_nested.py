"""Adaptive quadrature over nested levels, checked against computations written independently.

* the two-level mean-variance and mode-curvature log likelihoods equal a nested
  trapezoid integral on the b scale in numpy, at fixed parameters and at the maximum;
* the gradient equals central differences of the log likelihood;
* with the lower variance at zero the nested integral is the one-level one;
* one node per level is the joint Laplace approximation (Pinheiro & Chao's
  multilevel AGQ): on grouseticks, lme4's log likelihood at lme4's estimates
  (the sparse engine's Laplace fit is checked against lme4 in
  test_reference_glmm); the 7-point mean-variance fit and its standard errors lie
  close to that fit;
* three levels equal a three-fold nested trapezoid integral.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_case_data
from scipy import optimize
from scipy.special import gammaln
from scipy.stats import norm

import mejax
from mejax.fit.glmm import prepare
from mejax.fit.nesting import nested_levels
from mejax.models.glmm import marginal_loglik
from mejax.spec.design import build_design
from mejax.spec.family import make_family
from mejax.spec.formula import parse_formula

VALUE = jax.jit(marginal_loglik, static_argnums=(2, 3))
VALUE_AND_GRAD = jax.jit(jax.value_and_grad(marginal_loglik), static_argnums=(2, 3))
PARAMS = np.array([-0.2, 0.6, 0.7, 0.5])  # β0, β1, σ_school, σ_class
NODES = 15


def _design(formula: str, data: pd.DataFrame, family: str = "binomial"):
    spec = replace(parse_formula(formula), family=make_family(family))
    return build_design(spec, data)


def _two_level_data(seed: int = 4, schools: int = 10, classes: int = 3, rows: int = 4):
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), classes * rows)
    cls = np.repeat(np.arange(schools * classes), rows)  # unique codes: nested by the data
    x = rng.normal(size=school.size)
    eta = (-0.3 + 0.7 * x + 0.8 * rng.normal(size=schools)[school]
           + 0.6 * rng.normal(size=schools * classes)[cls])
    y = (rng.random(school.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "school": school, "cls": cls})


def _log_trapezoid(log_f, grid):
    """log ∫ exp(log_f) over the last axis by the trapezoid rule."""
    peak = log_f.max(axis=-1, keepdims=True)
    return peak[..., 0] + np.log(np.trapezoid(np.exp(log_f - peak), grid, axis=-1))


def _brute_two_level(data: pd.DataFrame, params, points: int = 241) -> float:
    """Σ_j log ∫ N(a; 0, σ_a²) Π_s [∫ N(b; 0, σ_b²) Π_i p(y_i | a, b) db] da, on b-scale grids."""
    b0, b1, sd_a, sd_b = params
    a = np.linspace(-9 * sd_a, 9 * sd_a, points)
    b = np.linspace(-9 * sd_b, 9 * sd_b, points)
    total = 0.0
    for _, school in data.groupby("school"):
        log_inner = norm.logpdf(a, scale=sd_a)
        for _, cls in school.groupby("cls"):
            x, y = cls["x"].to_numpy()[:, None, None], cls["y"].to_numpy()[:, None, None]
            eta = b0 + b1 * x + a[None, :, None] + b[None, None, :]
            log_lik = np.sum(y * eta - np.logaddexp(0, eta), axis=0)  # (a, b)
            log_inner = log_inner + _log_trapezoid(log_lik + norm.logpdf(b, scale=sd_b), b)
        total += _log_trapezoid(log_inner, a)
    return float(total)


@pytest.fixture(scope="module")
def two_level():
    data = _two_level_data()
    design = _design("y ~ x + (1 | school) + (1 | cls)", data)
    models = {m: prepare(design, m, NODES) for m in ("mvaghq", "mcaghq")}
    return data, models


def _loglik(params, model, arrays) -> float:
    """The log likelihood (mean-variance: from the compiled value and gradient)."""
    fn = VALUE_AND_GRAD if model.method == "mvaghq" else VALUE
    out = fn(jnp.asarray(params), arrays, model, 1)
    return float(out[0] if model.method == "mvaghq" else out)


@pytest.mark.parametrize("method", ["mvaghq", "mcaghq"])
def test_two_level_loglik_matches_brute_force(two_level, method):
    data, models = two_level
    model, arrays = models[method]
    assert model.engine == "nested"
    assert abs(_loglik(PARAMS, model, arrays) - _brute_two_level(data, PARAMS)) < 1e-6


def test_gradient_matches_finite_differences(two_level):
    _, models = two_level
    model, arrays = models["mvaghq"]
    _, grad = VALUE_AND_GRAD(jnp.asarray(PARAMS), arrays, model, 1)
    h = 1e-5
    fd = [(_loglik(PARAMS + h * e, model, arrays) - _loglik(PARAMS - h * e, model, arrays))
          / (2 * h) for e in np.eye(len(PARAMS))]
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-7, atol=1e-7)


def test_maximum_matches_brute_force(two_level):
    data, models = two_level
    model, arrays = models["mvaghq"]

    def negative(p):
        value, grad = VALUE_AND_GRAD(jnp.asarray(p), arrays, model, 1)
        return -float(value), -np.asarray(grad)

    best = optimize.minimize(negative, PARAMS, jac=True, method="BFGS", options={"gtol": 1e-8})
    ours = -best.fun
    assert abs(ours - _brute_two_level(data, best.x)) < 1e-6
    assert np.all(best.x[2:] > 0.3)  # an interior maximum
    # our maximum is a stationary point of the brute-force likelihood (so its maximum
    # exceeds ours by about ½g'H⁻¹g, far below 1e-6)
    h = 1e-4
    grad = [(_brute_two_level(data, best.x + h * e) - _brute_two_level(data, best.x - h * e))
            / (2 * h) for e in np.eye(len(PARAMS))]
    assert np.max(np.abs(grad)) < 1e-6


def test_zero_lower_variance_is_the_one_level_integral(two_level):
    data, _ = two_level  # with a random slope: two dimensions at the top level
    model, arrays = prepare(_design("y ~ x + (1 + x | school) + (1 | cls)", data), "mcaghq", 7)
    one_model, one_arrays = prepare(_design("y ~ x + (1 + x | school)", data), "mcaghq", 7)
    assert (model.engine, one_model.engine) == ("nested", "grouped")
    theta = [0.7, 0.2, 0.3][: one_model.n_theta()]
    nested = _loglik(np.r_[PARAMS[:2], theta, 0.0], model, arrays)
    assert abs(nested - _loglik(np.r_[PARAMS[:2], theta], one_model, one_arrays)) < 1e-10


@pytest.fixture(scope="module")
def grouseticks():
    case = load_case("glmm_grouseticks_poisson_nested_laplace")
    return case, load_case_data(case)


def test_one_node_per_level_is_the_joint_laplace_of_lme4(grouseticks):
    case, data = grouseticks
    ref = case["reference"]
    design = _design(case["model"]["formula"], data, "poisson")
    var = {row["group"]: row["estimate"] for row in ref["varcomp"]}
    params = list(ref["fixef"].values()) + [np.sqrt(var["LOCATION"]),
                                            np.sqrt(var["BROOD:LOCATION"])]
    model, arrays = prepare(design, "mcaghq", 1)
    assert model.engine == "nested"
    assert abs(_loglik(params, model, arrays) - ref["loglik"]) < 1e-8


def test_mean_variance_fit_is_close_to_laplace(grouseticks):
    case, data = grouseticks
    ref = case["reference"]
    res = mejax.mepoisson("TICKS ~ C(YEAR) + cHEIGHT + (1 | LOCATION/BROOD)", data)
    assert res.converged
    assert (res.model.engine, res.integration, res.nodes) == ("nested", "mvaghq", 7)
    assert 0 < res.loglik - ref["loglik"] < 0.5  # quadrature adds a little over Laplace
    np.testing.assert_allclose(res.params[:4], list(ref["fixef"].values()), atol=5e-3)
    var = {row["group"]: row["estimate"] for row in ref["varcomp"]}
    want = [var["LOCATION"], var["BROOD:LOCATION"]]
    np.testing.assert_allclose(res.theta**2, want, rtol=0.05)
    np.testing.assert_allclose(res.fixef_se.to_numpy(), list(ref["fixef_se"].values()),
                               rtol=0.02)
    assert not any("Laplace" in note for note in res.notes)


def _three_level_data(seed: int = 1):
    rng = np.random.default_rng(seed)
    a, b, c = np.meshgrid(np.arange(4), np.arange(2), np.arange(2), indexing="ij")
    a, b, c = (np.repeat(v.ravel(), 3) for v in (a, b, c))
    leaf = (a * 2 + b) * 2 + c
    x = rng.normal(size=a.size)
    eta = (0.5 + 0.3 * x + 0.5 * rng.normal(size=4)[a] + 0.4 * rng.normal(size=8)[a * 2 + b]
           + 0.3 * rng.normal(size=16)[leaf])
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x": x, "a": a, "b": b,
                         "c": c})


def _brute_three_level(data: pd.DataFrame, params, points: int = 101) -> float:
    """The three-fold nested integral of a Poisson model on b-scale trapezoid grids."""
    b0, b1, sds = params[0], params[1], params[2:]
    grids = [np.linspace(-9 * s, 9 * s, points) for s in sds]
    priors = [norm.logpdf(g, scale=s) for g, s in zip(grids, sds)]
    ga, gb, gc = grids
    total = 0.0
    for _, top in data.groupby("a"):
        log_a = priors[0]
        for _, mid in top.groupby("b"):
            log_b = priors[1][None, :]
            for _, leaf in mid.groupby("c"):
                x, y = (leaf[v].to_numpy()[:, None, None, None] for v in ("x", "y"))
                eta = (b0 + b1 * x + ga[None, :, None, None] + gb[None, None, :, None]
                       + gc[None, None, None, :])
                log_lik = np.sum(y * eta - np.exp(eta) - gammaln(y + 1), axis=0)
                log_b = log_b + _log_trapezoid(log_lik + priors[2], gc)
            log_a = log_a + _log_trapezoid(log_b, gb)
        total += _log_trapezoid(log_a, ga)
    return float(total)


def test_three_levels_match_brute_force():
    data = _three_level_data()
    params = np.array([0.4, 0.3, 0.5, 0.4, 0.3])
    model, arrays = prepare(_design("y ~ x + (1 | a/b/c)", data, "poisson"), "mcaghq", 15)
    assert model.engine == "nested" and len(arrays["levels"]) == 3
    assert abs(_loglik(params, model, arrays) - _brute_three_level(data, params)) < 1e-9


def test_nesting_detection():
    data = _two_level_data(schools=3, classes=2, rows=2)
    assert nested_levels(_design("y ~ x + (1 | school/cls)", data)) == [[0], [1]]
    assert nested_levels(_design("y ~ x + (1 | cls) + (1 | school)", data)) == [[1], [0]]
    crossed = data.assign(rater=np.arange(len(data)) % 2)
    assert nested_levels(_design("y ~ x + (1 | school) + (1 | rater)", crossed)) is None
    design = _design("y ~ x + (1 | school) + (0 + x | school) + (1 | cls)", data)
    assert nested_levels(design) == [[0, 1], [2]]
    laplace = prepare(design, "laplace", 1)[0]  # the joint Laplace, by one-node recursion
    assert laplace.engine == "nested" and (laplace.method, laplace.nodes) == ("mcaghq", 1)
    model, arrays = prepare(design, "mvaghq", 7)
    assert model.engine == "nested"
    assert [lv["cols"].tolist() for lv in arrays["levels"]] == [[0, 1], [2]]
