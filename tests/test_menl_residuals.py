"""menl's residual structures against R's nlme (tests/reference/make_refs_menl_resid.R).

Stata's ``rescorrelation(ar 1, t())``, ``rescorrelation(ctar1, t())`` with
``resvariance(power _yhat)``, ``rescorrelation(exchangeable)`` and
``rescovariance(independent, index())`` (varIdent) are nlme's corAR1, corCAR1 + varPower,
corCompSymm and varIdent; tolerances as in test_menl.py. Four compiled fits.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from menl_cases import REF

import mejax
from mejax.spec.residuals import Residuals


def case(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def check_against_nlme(res, ref: dict, level: str) -> None:
    """Log likelihood, fixed effects and SEs (test_menl's check), var(U) and the residual
    variance by name (a residual structure reports its parameters before var(e))."""
    assert res.converged
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(res.fixef, list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(res.fixef_se, list(ref["fixef_se"].values()), rtol=0.02)
    vc = res.varcomp.set_index("var1")["estimate"]
    residual = "var(e)" if "var(e)" in vc.index else "sigma2"
    np.testing.assert_allclose([vc.iloc[0], vc[residual]],
                               [ref["re_cov"][level]["cov"][0][0], ref["sigma"] ** 2],
                               rtol=0.02)


def check_correlation(res, ref: dict, name: str) -> None:
    """The correlation parameter and its SE (nlme's apVar interval, back on ρ's scale)."""
    row = res.varcomp.set_index("var1").loc[name]
    (value,) = ref["corfunc"].values()
    assert row["estimate"] == pytest.approx(value, abs=2e-4)
    assert row["std_err"] == pytest.approx(ref["corfunc_se"], rel=0.02)
    assert row["lower"] < row["estimate"] < row["upper"]


@pytest.fixture(scope="module")
def orange():
    df = mejax.datasets.load("orange")
    return df.assign(occasion=df.groupby("Tree")["age"].rank())


def _orange_mean(p, d):
    return (p["b1"] + p["U"]) / (1 + jnp.exp(-(d["age"] - p["b2"]) / p["b3"]))


def test_ar1_from_a_jax_function(orange):
    """corAR1(form = ~occasion | Tree) as rescorrelation=Residuals("ar", t=...)."""
    c = case("resid_orange_ar1_ml")
    res = mejax.menl(_orange_mean, orange, response="circumference",
                     fixed={"b1": 192.0, "b2": 728.0, "b3": 353.0}, random={"U": "Tree"},
                     rescorrelation=Residuals("ar", 1, t="occasion"))
    check_against_nlme(res, c["reference"], "Tree")
    check_correlation(res, c["reference"], "rho")
    np.testing.assert_allclose(res.predict("yhat"), c["reference"]["fitted"], rtol=1e-5)
    assert res.n_params == 6 and res.aic == pytest.approx(-2 * res.loglik + 12)
    text = str(res)
    assert "Residual: AR(1)" in text and "t: occasion" in text and "rho |" in text


@pytest.fixture(scope="module")
def soybean():
    return mejax.datasets.load("soybean")


def test_ctar1_with_power_of_the_mean(soybean):
    """corCAR1(form = ~Time | Plot) with varPower(~fitted(.)), from Stata's syntax."""
    c = case("resid_soybean_ctar1_power_ml")
    res = mejax.stata(c["stata"], soybean)
    check_against_nlme(res, c["reference"], "Plot")
    check_correlation(res, c["reference"], "rho")
    vc = res.varcomp.set_index("var1")
    assert vc.loc["delta", "estimate"] == pytest.approx(c["reference"]["varfunc"]["power"],
                                                        rel=1e-3)
    assert "Residual: Exponential" in str(res) and "Power _yhat" in str(res)


def test_distinct_variances_by_year(soybean):
    """varIdent(form = ~1 | Year) as Stata's rescovariance(independent, index(Year))."""
    c = case("resid_soybean_distinct_ml")
    command = c["stata"].replace("resvariance(distinct, index(Year))",
                                 "rescovariance(independent, index(Year))")
    res = mejax.stata(command, soybean)
    ref = c["reference"]
    check_against_nlme(res, ref, "Plot")
    ratios = res.varcomp.set_index("var1").loc[["ratio(Year=1989)", "ratio(Year=1990)"],
                                               "estimate"]
    np.testing.assert_allclose(ratios, [ref["varfunc"]["1989"], ref["varfunc"]["1990"]],
                               rtol=1e-3)
    assert "Distinct Year" in str(res)


def test_exchangeable_within_seed():
    """corCompSymm(form = ~1 | Seed): the dense (Cholesky) whitening, Stata's syntax."""
    c = case("resid_loblolly_exchangeable_ml")
    res = mejax.stata(c["stata"], mejax.datasets.load("loblolly"))
    check_against_nlme(res, c["reference"], "Seed")
    check_correlation(res, c["reference"], "rho")


@pytest.mark.parametrize("option, message", [
    ("rescorrelation(unstructured)", r"unstructured, t\(varname\)"),
    ("rescorrelation(ar 1, t(occasion) by(occasion))", r"by\(occasion\) must be constant"),
    ("rescorrelation(ar 1, index(Tree))", r"suboption 'index' is not supported"),
    ("rescorrelation(ctar1)", r"ctar1\) needs the time variable"),
    ("rescorrelation(ar 1, t(nope))", r"residual-structure variable 'nope' not found"),
    ("rescorrelation(ar 1, t(age))", r"order is larger|integer"),
    ("rescorrelation(ar 1, t(occasion)) intmethod(laplace)", r"Laplace likelihood is for "
     "independent errors"),
    ("resvariance(distinct)", r"index\(varname\)"),
    ("resvariance(distinct, index(Tree)) rescovariance(ar 1, t(occasion))",
     r"rescovariance\(\) gives the residual variances"),
])
def test_bad_residual_options_are_named(orange, option, message):
    command = ("menl circumference = ({b1}+{U[Tree]})/(1+exp(-(age-{b2})/{b3})), "
               "initial(b1 192 b2 728 b3 353) " + option)
    with pytest.raises((mejax.SpecError, mejax.DataError), match=message):
        mejax.stata(command, orange.assign(age=orange["age"] + 0.5))
