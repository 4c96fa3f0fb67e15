"""Sampling weights, robust and survey-linearized variances (svyset, svy:, [pw=], pweight()).

Checked against computations written independently:

* R (tests/reference/make_refs_survey.R, survey.json): the pseudo-likelihood of a
  random-intercept logit on survey::apiclus2 with each district's integral by a fine
  trapezoid rule around its mode, maximised by ``optim``, and the sandwich from numDeriv scores per
  PSU — cluster-robust, linearized with the first-stage fpc, and with strata;
* integer weights equal copies: a row (or group) of weight 2 contributes as two copies
  of it, each copy of a group with its own random effect — exact identities of the
  pseudo-likelihood, checked on a three-level model with non-adaptive quadrature;
* with unit weights, one stratum and the top-level groups as PSUs, the estimates are
  the ML fit's and the linearized variance is the cluster-robust one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.errors import DataError, SpecError

REF = json.loads((Path(__file__).parent / "reference" / "survey.json").read_text())
FORMULA = "sch_wide ~ ell10 + meals10 + (1 | dnum)"
NAMES = ["(Intercept)", "ell10", "meals10"]
DESIGN = "dnum, weight(w_district) fpc(fpc1) || _n, weight(w_school)"


@pytest.fixture(scope="module")
def api():
    df = mejax.datasets.load("apiclus2")
    df["ell10"], df["meals10"] = df["ell"] / 10, df["meals"] / 10
    df["stratum"] = df["dnum"] % 4  # the reference's artificial stratification
    df["one"] = 1.0
    return df


def _check(fit, ref, se_tol=0.01):
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-6)
    np.testing.assert_allclose(fit.fixef[NAMES].to_numpy(), ref["beta"], rtol=1e-4, atol=1e-5)
    vc = fit.varcomp
    var = vc.loc[vc["group"] == "dnum", "estimate"].iloc[0]
    assert var == pytest.approx(ref["var"], rel=1e-4)
    np.testing.assert_allclose(fit.fixef_se[NAMES].to_numpy(), ref["se_beta"], rtol=se_tol)
    assert vc.loc[vc["group"] == "dnum", "std_err"].iloc[0] == pytest.approx(ref["se_var"],
                                                                             rel=se_tol)


@pytest.fixture(scope="module")
def svy_fit(api):
    return mejax.melogit(FORMULA, api, survey=DESIGN, nodes=30)


def test_linearized_with_fpc_matches_r(svy_fit):
    _check(svy_fit, REF["weighted_fpc"])
    assert svy_fit.sampling.n_psu == REF["weighted_fpc"]["n_psu"] == 40
    assert svy_fit.sampling.design_df == 39
    assert svy_fit.df.iloc[0] == 39  # t tests on the design df, as Stata's svy


def test_linearized_with_strata_matches_r(api):
    fit = mejax.melogit(FORMULA, api, nodes=30, survey="dnum, weight(w_district) "
                        "strata(stratum) || _n, weight(w_school)")
    _check(fit, REF["weighted_strata"])
    assert fit.sampling.n_strata == REF["weighted_strata"]["n_strata"] == 4
    assert fit.sampling.design_df == 36


def test_cluster_robust_matches_r(api):
    fit = mejax.melogit(FORMULA, api, nodes=30, vce="robust")
    _check(fit, REF["robust"])
    plain = mejax.melogit(FORMULA, api, nodes=30)
    assert plain.loglik == pytest.approx(fit.loglik, abs=1e-9)
    np.testing.assert_allclose(plain.fixef_se[NAMES], REF["robust"]["se_beta_oim"], rtol=0.01)


def test_unit_weights_are_ml_and_linearized_is_cluster_robust(api):
    plain = mejax.melogit(FORMULA, api, vce="robust")
    svy = mejax.melogit(FORMULA, api, survey="dnum, weight(one) || _n, weight(one)")
    assert svy.loglik == pytest.approx(plain.loglik, abs=1e-9)
    np.testing.assert_allclose(svy.params, plain.params, atol=1e-8)
    # the scores sum to the (near-zero) gradient, so centring them changes nothing
    np.testing.assert_allclose(svy.params_vcov, plain.params_vcov, rtol=1e-5, atol=1e-12)


def test_stata_session_svy_output(api, svy_fit):
    s = mejax.StataSession(api, echo=False)
    s.run("svyset " + DESIGN)
    out = str(s.run("svy: melogit sch_wide ell10 meals10 || dnum:, intpoints(30)"))
    for text in ("Survey: Mixed-effects logistic regression", "Number of strata =      1",
                 "Number of PSUs   =     40", "Design df", "F(2, 38)", "Linearized",
                 "Log pseudolikelihood"):
        assert text in out, text
    assert "LR test" not in out
    assert s.results.loglik == pytest.approx(svy_fit.loglik, abs=1e-9)
    stata_order = ["_cons", "ell10", "meals10"]  # Stata puts the constant last
    np.testing.assert_allclose(s.results.fixef_se[stata_order], svy_fit.fixef_se[NAMES],
                               rtol=1e-9)
    with pytest.raises(SpecError, match="lrtest is not appropriate with survey"):
        s.run("estimates store a")
        s.run("lrtest a .")


def test_stata_weights_on_the_command_line(api):
    a = mejax.stata("melogit sch_wide ell10 meals10 [pw=w_school] || dnum:, "
                    "pweight(w_district) vce(robust)", api)
    b = mejax.melogit(FORMULA, api, weights="w_school", level_weights={"dnum": "w_district"},
                      vce="robust")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-9)
    assert a.vce == "robust" and "Robust" in a.summary()


def test_pwscale_size_and_gk_are_their_definitions(api):
    n_j = api.groupby("dnum")["w_school"].transform("size")
    total = api.groupby("dnum")["w_school"].transform("sum")
    scaled = api.assign(w_size=api["w_school"] * n_j / total,
                        w_gk=api["w_district"] * total / n_j)
    levels = {"dnum": "w_district"}
    size = mejax.melogit(FORMULA, api, weights="w_school", level_weights=levels,
                         pwscale="size", method="laplace")
    by_hand = mejax.melogit(FORMULA, scaled, weights="w_size", level_weights=levels,
                            method="laplace")
    assert size.loglik == pytest.approx(by_hand.loglik, abs=1e-9)
    gk = mejax.melogit(FORMULA, api, weights="w_school", level_weights=levels, pwscale="gk",
                       method="laplace")
    gk_hand = mejax.melogit(FORMULA, scaled, level_weights={"dnum": "w_gk"}, method="laplace")
    assert gk.loglik == pytest.approx(gk_hand.loglik, abs=1e-9)


# ---- integer weights are copies (three levels, non-adaptive quadrature: the same nodes) ----
@pytest.fixture(scope="module")
def three_levels():
    rng = np.random.default_rng(7)
    rows = []
    for school in range(8):
        a = rng.normal(0, 0.8)
        for cls in range(3):
            b = rng.normal(0, 0.6)
            for _ in range(4):
                x = rng.normal()
                rows.append((f"s{school}", f"s{school}c{cls}", x,
                             int(rng.random() < 1 / (1 + np.exp(-(-0.3 + 0.8 * x + a + b))))))
    df = pd.DataFrame(rows, columns=["school", "cls", "x", "y"])
    df["w_cls"] = np.where(df["cls"].str.endswith("c1"), 2.0, 1.0)
    df["w_row"] = np.where(np.arange(len(df)) % 5 == 0, 2.0, 1.0)
    return df


def _copies(df: pd.DataFrame) -> pd.DataFrame:
    """Every class of weight 2 twice (as a new class), then every row of weight 2 twice."""
    twice = df[df["w_cls"] == 2].assign(cls=lambda d: d["cls"] + "_copy")
    out = pd.concat([df, twice], ignore_index=True)
    return pd.concat([out, out[out["w_row"] == 2]], ignore_index=True)


def test_integer_weights_equal_copies_at_every_level(three_levels):
    formula = "y ~ x + (1 | school) + (1 | cls)"
    options = {"method": "ghq", "nodes": 9}
    weighted = mejax.melogit(formula, three_levels, weights="w_row",
                             level_weights={"cls": "w_cls"}, **options)
    copied = mejax.melogit(formula, _copies(three_levels), **options)
    assert weighted.loglik == pytest.approx(copied.loglik, abs=1e-7)
    np.testing.assert_allclose(weighted.params, copied.params, atol=1e-5)


# ---- bad input -------------------------------------------------------------------------------
def test_bad_weights_and_designs(api):
    with pytest.raises(DataError, match="negative"):
        mejax.melogit(FORMULA, api.assign(w=-api["w_school"]), weights="w")
    with pytest.raises(DataError, match="missing value"):
        mejax.melogit(FORMULA, api.assign(w=api["w_school"].where(api.index > 3)), weights="w")
    with pytest.raises(DataError, match="varies within groups of 'dnum'"):
        mejax.melogit(FORMULA, api, level_weights={"dnum": "api00"})
    with pytest.raises(SpecError, match="not a random-effects level"):
        mejax.melogit(FORMULA, api, level_weights={"school": "w_district"})
    with pytest.raises(SpecError, match="do not match the model's levels"):
        mejax.melogit(FORMULA, api, survey="snum, weight(w_school) || _n, weight(one)")
    with pytest.raises(DataError, match="not nested within the PSUs"):
        mejax.melogit(FORMULA, api, survey="snum")
    singles = api.assign(st=np.where(api["dnum"] == api["dnum"].min(), 0, 1))
    with pytest.raises(DataError, match="single sampling unit"):
        mejax.melogit(FORMULA, singles, survey="dnum, strata(st)", method="laplace")
    fit = mejax.melogit(FORMULA, singles, survey="dnum, strata(st) singleunit(certainty)",
                        method="laplace")
    assert np.all(np.isfinite(fit.fixef_se))
    with pytest.raises(SpecError, match="svy: needs a survey design"):
        mejax.stata("svy: melogit sch_wide ell10 || dnum:", api)
    with pytest.raises(SpecError, match="pweight"):
        mejax.stata("melogit sch_wide ell10 [fw=one] || dnum:", api)
    with pytest.raises(SpecError, match="vce"):
        mejax.melogit(FORMULA, api, vce="bootstrap")
    s = mejax.StataSession(api, echo=False)
    with pytest.raises(SpecError, match="svyset"):
        s.run("svy: melogit sch_wide ell10 || dnum:")


# ---- the linear model on the same engine ------------------------------------------------------
def test_weighted_mixed_is_the_gaussian_family_on_the_general_engine():
    df = mejax.datasets.load("sleepstudy").assign(one=1.0)
    formula = "Reaction ~ Days + (Days | Subject)"
    ml = mejax.mixed(formula, df)
    unit = mejax.mixed(formula, df, weights="one")
    assert unit.loglik == pytest.approx(ml.loglik, abs=1e-7)
    np.testing.assert_allclose(unit.fixef, ml.fixef, rtol=1e-6)
    np.testing.assert_allclose(unit.fixef_se, ml.fixef_se, rtol=1e-5)
    np.testing.assert_allclose(unit.varcomp["estimate"], ml.varcomp["estimate"], rtol=1e-5)
    np.testing.assert_allclose(unit.varcomp["std_err"], ml.varcomp["std_err"], rtol=1e-4)
    with pytest.raises(SpecError, match="REML is not allowed"):
        mejax.mixed(formula, df, weights="one", reml=True)


def test_svy_mixed_and_subpop_in_a_session(api):
    s = mejax.StataSession(api, echo=False)
    s.run("svyset " + DESIGN)
    s.run('generate elem = stype == "E"')
    out = str(s.run("svy, subpop(elem): mixed api00 ell10 || dnum:"))
    assert "Survey: Mixed-effects regression" in out and "var(Residual)" in out
    whole = s.results
    elem = api[api["stype"] == "E"]
    # the subpopulation's point estimates are the fit on its rows; its PSUs are all 40
    alone = mejax.mixed("api00 ~ ell10 + (1 | dnum)", elem, survey=DESIGN)
    assert whole.loglik == pytest.approx(alone.loglik, rel=1e-8)
    np.testing.assert_allclose(whole.fixef[["_cons", "ell10"]],
                               alone.fixef[["(Intercept)", "ell10"]], rtol=1e-6)
    assert whole.sampling.n_psu == 40 and alone.sampling.n_psu < 40


def test_post_estimation_uses_the_design_variance(svy_fit):
    """test, lincom, margins and estat icc after svy: read the linearized variance."""
    se = float(svy_fit.fixef_se["ell10"])
    lin = svy_fit.lincom("ell10")
    assert lin["std_err"] == pytest.approx(se, rel=1e-9)
    assert lin["df"] == 39  # t on the design df
    wald = svy_fit.test("ell10 = 0")
    assert wald["F"] == pytest.approx((svy_fit.fixef["ell10"] / se) ** 2, rel=1e-9)
    margins = svy_fit.margins(dydx="ell10")
    assert margins["df"] is not None and np.isfinite(margins["table"].iloc[:, 1]).all()
    assert np.isfinite(svy_fit.icc()["icc"]).all()
