"""Wald tests, lincom, contrast, pwcompare, lrtest and estat ic against hand computation
(numpy from fixef/vcov) and emmeans (tests/reference/make_refs_margins.R)."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from conftest import margins_data, margins_refs
from scipy import special

import mejax
from mejax.inference import hypothesis as hyp
from mejax.inference._common import HypothesisError

data = pytest.fixture(scope="module")(margins_data)
refs = pytest.fixture(scope="module")(margins_refs)


@pytest.fixture(scope="module")
def full(data):
    return mejax.stata("mixed y x1 x2 i.a || id:", data)


@pytest.fixture(scope="module")
def reduced(data):
    return mejax.stata("mixed y x1 i.a || id:", data)


def _bv(res, names):
    return res.fixef[names].to_numpy(), res.vcov.loc[names, names].to_numpy()


def test_fit_matches_lme4(full, refs):
    ref = refs["additive"]
    assert full.loglik == pytest.approx(ref["loglik"], abs=1e-4)
    assert full.fixef["3.a"] == pytest.approx(ref["fixef"]["a3"], rel=1e-4)


def test_single_constraint(full):
    res = full.test("x1=1")
    b, v = full.fixef["x1"], full.vcov.loc["x1", "x1"]
    chi2 = (b - 1) ** 2 / v
    assert res["chi2"] == pytest.approx(chi2, rel=1e-10)
    assert res["df"] == 1
    assert res["p"] == pytest.approx(special.chdtrc(1, chi2), rel=1e-10)
    text = str(res)
    assert " ( 1)  [y]x1 = 1" in text
    assert "chi2(  1) =" in text and "Prob > chi2 =" in text


def test_joint_and_equivalent_forms(full):
    b, v = _bv(full, ["x1", "x2"])
    chi2 = b @ np.linalg.solve(v, b)
    joint = full.test("x1 x2")
    assert joint["chi2"] == pytest.approx(chi2, rel=1e-10)
    assert joint["df"] == 2
    paren = full.test("(x1=x2) (x2=0)")
    assert paren["chi2"] == pytest.approx(chi2, rel=1e-8)  # the same hypothesis space
    assert "( 1)  [y]x1 - [y]x2 = 0" in str(paren)
    assert full.test("(_b[x1]=0) ([y]x2=0)")["chi2"] == pytest.approx(chi2, rel=1e-10)


def test_factor_coefficients(full, refs):
    b, v = _bv(full, ["2.a", "3.a"])
    res = full.test("2.a 3.a")
    assert res["chi2"] == pytest.approx(b @ np.linalg.solve(v, b), rel=1e-10)
    assert "[y]2.a = 0" in str(res)
    # the base level is fixed at 0: its constraint is dropped, as Stata
    dropped = full.test("1b.a 2.a")
    assert dropped["df"] == 1 and "dropped" in str(dropped)
    # emmeans' joint_tests (F x df1, printed to 3 decimals)
    con = full.contrast("a")
    assert con["chi2"] == pytest.approx(res["chi2"], rel=1e-8)
    assert con["chi2"] == pytest.approx(refs["additive"]["contrast_a"]["chi2"], abs=0.01)
    assert con["df"] == 2
    text = str(con)
    assert "Contrasts of marginal linear predictions" in text
    assert "df        chi2     P>chi2" in text


def test_dependent_constraints_dropped(full):
    res = full.test("(x1=0) (2*x1=0) (x2=0)")
    assert res["df"] == 2 and res["dropped"] == [1]
    with pytest.raises(HypothesisError, match="contradicts"):
        full.test("(x1=0) (x1=1)")


def test_lincom(full):
    res = full.lincom("x1 + 2*x2 - 3")
    w = np.array([1.0, 2.0])
    b, v = _bv(full, ["x1", "x2"])
    est, se = w @ b - 3, np.sqrt(w @ v @ w)
    assert res["estimate"] == pytest.approx(est, rel=1e-12)
    assert res["std_err"] == pytest.approx(se, rel=1e-12)
    assert res["p"] == pytest.approx(2 * special.ndtr(-abs(est / se)), rel=1e-10)
    z = special.ndtri(0.975)
    assert res["ci_lower"] == pytest.approx(est - z * se, rel=1e-10)
    text = str(res)
    assert "( 1)  [y]x1 + 2*[y]x2 = 3" in text and "P>|z|" in text
    assert full.lincom("(x1 - x2)/2")["estimate"] == pytest.approx(
        (full.fixef["x1"] - full.fixef["x2"]) / 2)
    assert full.lincom("_cons + 3.a")["estimate"] == pytest.approx(
        full.fixef["_cons"] + full.fixef["3.a"])


def test_pwcompare_matches_emmeans(full, refs):
    res = full.pwcompare("a")
    table = res["table"]
    assert list(table.index) == ["2 vs 1", "3 vs 1", "3 vs 2"]
    ref = refs["additive"]["pairs_a"]  # "1 - 2", "1 - 3", "2 - 3": the negatives
    np.testing.assert_allclose(table["estimate"], -np.array(ref["estimate"]), rtol=1e-4)
    np.testing.assert_allclose(table["std_err"], ref["se"], rtol=2e-3)
    assert table.loc["2 vs 1", "estimate"] == pytest.approx(full.fixef["2.a"], rel=1e-10)
    assert "Unadjusted" in str(res) and "Pairwise comparisons" in str(res)


def test_bad_names(full):
    with pytest.raises(HypothesisError, match="x3 not found"):
        full.test("x3=0")
    with pytest.raises(mejax.SpecError, match="not found"):
        full.lincom("x1 + 5.a")
    with pytest.raises(HypothesisError, match="not linear"):
        full.lincom("x1*x2")
    with pytest.raises(HypothesisError, match="not a factor"):
        full.contrast("x1")


def test_lrtest(full, reduced):
    res = mejax.lrtest(full, reduced)
    assert res["chi2"] == pytest.approx(2 * (full.loglik - reduced.loglik), rel=1e-10)
    assert res["df"] == 1
    assert res["p"] == pytest.approx(special.chdtrc(1, res["chi2"]))
    assert not res["conservative"]
    assert "LR chi2(1)" in str(res) and "Assumption: B nested within A" in str(res)
    # argument order does not matter
    assert mejax.lrtest(reduced, full)["chi2"] == pytest.approx(res["chi2"])


def test_lrtest_variance_component_note(data, full):
    slope = mejax.stata("mixed y x1 x2 i.a || id: x1", data)
    res = mejax.lrtest(slope, full)
    assert res["df"] == 1 and res["conservative"]
    assert res["chi2"] == pytest.approx(max(2 * (slope.loglik - full.loglik), 0.0))
    assert "conservative" in str(res)


def test_lrtest_bad_input(data, full, reduced):
    reml = mejax.stata("mixed y x1 x2 i.a || id:, reml", data)
    with pytest.raises(HypothesisError, match="ML.*REML|estimated differently"):
        mejax.lrtest(full, reml)
    reml_small = mejax.stata("mixed y x1 i.a || id:, reml", data)
    with pytest.raises(HypothesisError, match="REML fits with different fixed effects"):
        mejax.lrtest(reml, reml_small)
    other = mejax.stata("mixed y x2 || id:", data)
    with pytest.raises(HypothesisError, match="not nested"):
        mejax.lrtest(reduced, other)
    same = mejax.stata("mixed y x2 i.a || id:", data)
    with pytest.raises(HypothesisError, match="same number of parameters"):
        mejax.lrtest(reduced, same)


def test_estat_ic(full):
    res = full.estat_ic()
    k = len(full.fixef) + 2
    assert res["df"] == k == full.n_params
    assert res["AIC"] == pytest.approx(-2 * full.loglik + 2 * k)
    assert res["BIC"] == pytest.approx(-2 * full.loglik + np.log(full.nobs) * k)
    text = str(res)
    assert "Model |          N   ll(null)  ll(model)      df        AIC        BIC" in text
    assert "Note: BIC uses N = number of observations" in text


def test_small_sample_switch(full):
    """With result.df (dfmethod), tests report F and t; here with a fixed df of 20."""
    fake = types.SimpleNamespace(fixef=full.fixef, vcov=full.vcov, design=full.design,
                                 response_label=full.response_label, level=95.0,
                                 omitted=[], small_sample=None,
                                 df=pd.Series(20.0, index=full.fixef.index))
    res = hyp.test(fake, "x1 x2")
    chi2 = full.test("x1 x2")["chi2"]
    assert res["F"] == pytest.approx(chi2 / 2)
    assert res["p"] == pytest.approx(special.fdtrc(2, 20.0, chi2 / 2))
    assert "F(  2,   20.00)" in str(res) and "Prob > F" in str(res)
    lc = hyp.lincom(fake, "x1")
    assert lc["p"] == pytest.approx(2 * special.stdtr(20.0, -abs(lc["stat"])))
    assert "P>|t|" in str(lc)


def test_kroger_results_use_f(data):
    try:
        res = mejax.stata("mixed y x1 x2 i.a || id:, reml dfmethod(kroger)", data)
    except mejax.SpecError as err:
        pytest.skip(f"dfmethod not available: {err}")
    if getattr(res, "df", None) is None:
        pytest.skip("MixedResult.df not available")
    t = res.test("x1=0")
    coef = res.coef_table
    assert t["F"] == pytest.approx(coef.loc["x1", "t"] ** 2, rel=1e-6)
    assert t["df_r"] == pytest.approx(res.df["x1"], rel=1e-6)
    assert "ddf" in str(res.contrast("a")) and "P>F" in str(res.contrast("a"))


def test_formula_style_names(data):
    res = mejax.mixed("y ~ x1 + x2 + a + (1 | id)", data.assign(a=data["a"].astype(str)))
    assert res.test("a2 a3")["chi2"] == pytest.approx(res.contrast("a")["chi2"], rel=1e-8)
    assert res.lincom("_cons + a2")["estimate"] == pytest.approx(
        res.fixef["(Intercept)"] + res.fixef["a2"])
    assert "a2 = 0" in str(res.test("a2=0"))
