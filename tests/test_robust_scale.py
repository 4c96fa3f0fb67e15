"""Fits do not depend on the units of the covariates (issue 20), checked against lme4.

References: tests/reference/make_refs_robust.R (lme4 on the same data). lme4
itself fails on the rescaled copies (its warnings are in the JSON), so every
rescaled mejax fit is compared with lme4's fit in the original units.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.linalg.scaling import scaled_inverse
from mejax.spec.collinearity import collinear_columns

REF = Path(__file__).parent / "reference" / "robust"
REFS = json.loads((REF / "robust.json").read_text())


@pytest.fixture(scope="module")
def lmm_data():
    return pd.read_csv(REF / "lmm_scale.csv")


@pytest.fixture(scope="module")
def glmm_data():
    return pd.read_csv(REF / "glmm_scale.csv")


@pytest.fixture(scope="module")
def lmm_fits(lmm_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", mejax.ConvergenceWarning)
        return {s: mejax.mixed("y ~ x + (1 + x | g)", lmm_data.assign(x=lmm_data.x * s))
                for s in (1.0, 1e-4, 1e3)}


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e3])
def test_lmm_invariant_to_covariate_scale(lmm_fits, scale):
    ref = REFS["lmm_scale"][0]  # lme4 in the original units
    fit = lmm_fits[scale]
    assert fit.converged and not fit.boundary
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy() * [1, scale], ref["fixef"], rtol=1e-5)
    np.testing.assert_allclose(fit.fixef_se.to_numpy() * [1, scale], ref["fixef_se"], rtol=1e-4)
    vc = fit.varcomp["estimate"].to_numpy()
    np.testing.assert_allclose(vc[[0, 3]], [ref["var_intercept"], ref["var_residual"]],
                               rtol=1e-4)
    assert vc[1] * scale**2 == pytest.approx(ref["var_slope"], rel=1e-3)
    # the covariance is near 0: compare it on the correlation scale
    corr = vc[2] / np.sqrt(vc[0] * vc[1])
    assert corr == pytest.approx(ref["cov"] / np.sqrt(ref["var_intercept"] * ref["var_slope"]),
                                 abs=1e-3)
    assert np.all(np.isfinite(fit.varcomp["std_err"]))


def test_lme4_fails_where_mejax_does_not():
    """The reference file records lme4's own trouble on the rescaled copies."""
    bad = REFS["lmm_scale"][1:]
    assert all(case["warnings"] for case in bad)
    assert all(case["loglik"] < REFS["lmm_scale"][0]["loglik"] - 0.5 for case in bad)


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e3])
def test_boundary_same_verdict_in_any_units(lmm_data, scale):
    """Group means removed from y: the intercept variance is 0 in any units of x."""
    y = lmm_data.y - lmm_data.groupby("g").y.transform("mean") + lmm_data.x
    fit = mejax.mixed("y ~ x + (1 + x | g)", lmm_data.assign(y=y, x=lmm_data.x * scale))
    assert fit.boundary
    frame = fit.varcomp
    assert frame["estimate"].iloc[0] == 0.0 and np.isnan(frame["std_err"].iloc[0])
    assert frame["estimate"].iloc[1] * scale**2 > 1e-3  # the slope variance is not zero


@pytest.fixture(scope="module")
def glmm_fits(glmm_data):
    out = {}
    for scale, shift in [(1.0, 0.0), (1e4, 0.0), (1e8, 0.0), (1e4, 5e4)]:
        data = glmm_data.assign(x=glmm_data.x * scale + shift)
        out[scale, shift] = mejax.melogit("y ~ x + (1 | g)", data, method="laplace")
    return out


@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (1e4, 0.0), (1e8, 0.0), (1e4, 5e4)])
def test_glmm_slope_se_invariant(glmm_fits, scale, shift):
    ref = REFS["glmm_scale"][0]  # glmer, Laplace, original units
    base = glmm_fits[1.0, 0.0]
    fit = glmm_fits[scale, shift]
    assert fit.converged
    # against lme4 (its Laplace optimum differs from mejax's by 1e-3 in loglik)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=2e-3)
    assert fit.fixef["x"] * scale == pytest.approx(ref["fixef"][1], rel=2e-3)
    assert fit.fixef_se["x"] * scale == pytest.approx(ref["fixef_se"][1], rel=1e-2)
    # against the fit in original units, tightly: x' = scale·x + shift is a reparameterisation
    assert fit.loglik == pytest.approx(base.loglik, abs=1e-7)
    assert fit.fixef_se["x"] * scale == pytest.approx(base.fixef_se["x"], rel=1e-5)
    a = np.array([1.0, -shift / scale])  # the intercept at x' = 0 is β0 − (shift/scale)·β1
    se0 = np.sqrt(a @ base.vcov.to_numpy() @ a)
    assert fit.fixef_se["(Intercept)"] == pytest.approx(se0, rel=1e-5)
    assert fit.varcomp["estimate"].iloc[0] == pytest.approx(ref["var_intercept"], rel=2e-2)


def test_boolean_outcome_is_zero_one(glmm_data, glmm_fits):
    """melogit reads a boolean response as 0/1, as glmer does (both front ends)."""
    data = glmm_data.assign(y=glmm_data.y.astype(bool))
    fit = mejax.melogit("y ~ x + (1 | g)", data, method="laplace")
    assert fit.loglik == pytest.approx(glmm_fits[1.0, 0.0].loglik, abs=1e-10)
    stata = mejax.stata("melogit y x || g:, laplace", data)
    assert stata.loglik == pytest.approx(fit.loglik, abs=1e-8)


def test_scaled_inverse_handles_units():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    h = a @ a.T + 4 * np.eye(4)
    d = np.diag([1e-8, 1.0, 1e6, 1e9])
    inv = np.asarray(scaled_inverse(d @ h @ d))
    np.testing.assert_allclose(d @ inv @ d, np.linalg.inv(h), rtol=1e-9)


def test_collinear_extreme_scale_both_front_ends():
    """x3 = x1 + 1e-7·noise, both times 1e-8: dropped as lme4 drops it; both front ends agree."""
    data = pd.read_csv(REF / "collinear.csv")
    ref = REFS["collinear"]
    with pytest.warns(UserWarning, match="x3 omitted because of collinearity"):
        formula = mejax.mixed("y ~ x1 + x2 + x3 + (1 | g)", data)
    with pytest.warns(UserWarning, match="x3 omitted because of collinearity"):
        stata = mejax.stata("mixed y x1 x2 x3 || g:", data)
    for fit in (formula, stata):
        assert fit.converged and fit.omitted == ["x3"]
        assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert formula.fixef["x1"] == pytest.approx(ref["fixef"]["x1"], rel=1e-6)


def test_collinearity_criterion_is_scale_free():
    rng = np.random.default_rng(1)
    x = np.column_stack([np.ones(50), rng.normal(size=50), rng.normal(size=50)])
    x = np.column_stack([x, x[:, 1] + 2 * x[:, 2]])
    for scales in ([1, 1, 1, 1], [1, 1e-12, 1e10, 1e-6], [1e8, 1, 1, 1e12]):
        assert collinear_columns(x * np.array(scales)) == [3]
    assert collinear_columns(np.column_stack([x[:, :3], np.zeros(50)])) == [3]
    assert collinear_columns(x[:, :3]) == []
