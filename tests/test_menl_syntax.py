"""Stata's menl syntax: the parser (pure host), its errors, and menl in a Stata session.

The session fits the Orange model of tests/test_menl.py (the same command, so the same
compiled program); the numbers themselves are checked against nlme there.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from menl_cases import ORANGE, REF, reference

import mejax
from mejax.spec.menl_syntax import Binary, Effect, Indicator, Named, Param, Var, parse_menl


def test_parameters_effects_and_named_expressions():
    spec = parse_menl("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})), "
                      "define(phi1: {b1}+{U[Plot]}) initial(b1 19 b2 55 b3 8) reml")
    assert spec.response == "weight" and spec.reml
    assert spec.fixed == ["b1", "b2", "b3"]  # define()s first, as Stata lists them
    assert spec.random == {"U": "Plot"} and spec.variables == ["Time"]
    assert spec.initial == {"b1": 19.0, "b2": 55.0, "b3": 8.0}
    assert spec.defines["phi1"] == Binary("+", Param("b1"), Effect("U", "Plot"))


def test_linear_combinations_factor_terms_and_nesting():
    spec = parse_menl("y = {phi1:} + {lc: x1 x2, noconstant} + {UU[plot < zone]}*{a=2}, "
                      "define(phi1: U0[plot] x1 1.variety#U1[plot]) "
                      "covariance(U0 U1, unstructured) resvariance(power _yhat)")
    assert spec.fixed == ["phi1:x1", "phi1:_cons", "lc:x1", "lc:x2", "a"]
    assert spec.random == {"U0": "plot", "U1": "plot", "UU": "plot<zone"}
    assert spec.initial == {"a": 2.0}
    assert spec.covariance == {("U0", "U1"): "unstructured"}
    assert spec.resvariance == "power _yhat"
    assert Binary("*", Indicator(1.0, "variety"), Effect("U1", "plot")) == \
        spec.defines["phi1"].left.right
    assert spec.mean.left.right == Named("lc")
    assert parse_menl("y = {b}*x^2").mean == Binary("*", Param("b"), Binary("^", Var("x"),
                                                                            parse_menl(
                                                                                "y = 2").mean))
    # Stata's precedence: -2^2 is -4
    assert parse_menl("y = -{b}^2").mean.op == "-"


@pytest.mark.parametrize("command, message", [
    ("y = {b1}/(1+exp(-(x-{b2})/{b3})", "unbalanced parenthesis"),
    ("y = {b1 + x", "unbalanced brace"),
    ("y = {U[plot} + x", "unbalanced"),
    ("y = {phi1:}, define(phi1: {phi2:}+1) define(phi2: {phi1:}*2)",
     r"define\(\) loop: phi1 -> phi2 -> phi1"),
    ("y = {phi1:}*x", r"\{phi1:\} is used but never defined"),
    ("y = {b}*x, define(phi: {a}+1)", r"define\(phi: ...\) is never used"),
    ("y = {b}*foo(x)", r"unknown function foo\(\)"),
    ("y = {b}*x, rescorrelation(ar1 1)", r"rescorrelation\(ar1 1\): use one of"),
    ("y = {b}*x, nonsense", "option nonsense not allowed with menl"),
    ("y = {b}*x, initial(c 1)", r"initial\(\) gives c, which is not a parameter"),
    ("y = {b}*x + {U[g]} + {U[h]}", "random effect U is given two levels"),
    ("y = {b}*x + {b[g]}", "fixed parameter and as a random effect"),
    ("{b}*x", "menl needs an equation"),
    ("y = {b}*x, define(phi1 {b}+1)", r"write define\(name: expression\)"),
    ("y = {b} * * x", "cannot parse the menl expression"),
])
def test_bad_syntax_is_named(command, message):
    with pytest.raises(mejax.SpecError, match=message):
        parse_menl(command)


def test_bad_data_is_named_before_fitting():
    df = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "g": list("aabbcc"),
                       "s": list("uvuvuv")})
    with pytest.raises(mejax.DataError, match="level variable 'plot' not found"):
        mejax.stata("menl y = {b}*x + {U[plot]}", df)
    with pytest.raises(mejax.DataError, match="variable 'z' of the menl expression not found"):
        mejax.stata("menl y = {b}*z + {U[g]}", df)
    with pytest.raises(mejax.DataError, match="'s' of the menl expression is not numeric"):
        mejax.stata("menl y = {b}*x + {1.s#U[g]}", df)
    with pytest.raises(mejax.DataError, match="not finite at the starting values"):
        mejax.stata("menl y = {b}/(x-{c}) + {U[g]}", df)


@pytest.fixture(scope="module")
def session():
    s = mejax.StataSession(mejax.datasets.load("orange"))
    s.run(ORANGE)
    return s


def test_session_menl_and_postestimation(session):
    res = session.results
    assert isinstance(res, mejax.results.menl_result.MenlResult)
    session.run("predict yhat")
    session.run("predict double r, residuals")
    session.run("predict re*, reffects")
    session.run("predict double (c1 = {phi1:})")
    session.run("predict yfix, yhat fixedonly")
    data = session.data
    np.testing.assert_allclose(data["yhat"], res.predict("yhat"))
    np.testing.assert_allclose(data["r"], data["circumference"] - data["yhat"])
    np.testing.assert_allclose(data["c1"], res.fixef["b1"] + data["re1"])
    assert not np.allclose(data["yfix"], data["yhat"])
    assert "AIC" in str(session.run("estat ic"))
    assert "b1" in str(session.run("test b1 = 190"))
    assert "[circumference]b2 - [circumference]b3" in str(session.run("lincom b2 - b3"))
    with pytest.raises(mejax.SpecError, match="relevel"):
        session.run("predict bad, relevel(Plot)")
    with pytest.raises(mejax.SpecError, match="option xb not allowed after menl"):
        session.run("predict bad2, xb")


def test_margins_and_icc_after_menl(session):
    """margins of the mean at zero random effects against R (nlme's fixed effects and vcov,
    numDeriv gradients: tests/reference/make_refs_menl_resid.R); estat icc is refused."""
    ref = json.loads((REF / "margins_orange_ml.json").read_text())["reference"]
    text = str(session.run("margins, at(age=(500 1000))"))
    at = session.last_margins
    np.testing.assert_allclose(at["table"]["margin"], [ref["at500"]["margin"],
                                                       ref["at1000"]["margin"]], rtol=1e-5)
    np.testing.assert_allclose(at["table"]["std_err"], [ref["at500"]["se"],
                                                        ref["at1000"]["se"]], rtol=1e-4)
    assert "predict(yhat fixedonly)" in text and "2._at: age = 1000" in text
    ame = session.results.margins(dydx="age")
    assert ame["table"]["dydx"].iloc[0] == pytest.approx(ref["ame_age"]["margin"], rel=1e-5)
    assert ame["table"]["std_err"].iloc[0] == pytest.approx(ref["ame_age"]["se"], rel=1e-4)
    with pytest.raises(mejax.SpecError, match="takes no varlist"):
        session.run("margins Tree")
    with pytest.raises(mejax.SpecError, match=r"predict\(reffects\) is not available"):
        session.run("margins, predict(reffects)")
    with pytest.raises(mejax.SpecError, match="'height' is not a variable of the menl mean"):
        session.run("margins, at(height=1)")
    with pytest.raises(mejax.SpecError, match="estat icc is not available after menl"):
        session.run("estat icc")


def test_lrtest_of_a_second_random_effect(session):
    """nlme's anova() of the same two fits: LR chi2(1) = 0.0778, p = 0.7803."""
    session.run("estimates store one")
    session.run("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{phi3:})), "
                "define(phi1: {b1}+{U[Tree]}) define(phi3: {b3}+{V[Tree]}) "
                "initial(b1 192 b2 728 b3 353)")
    assert session.results.loglik == pytest.approx(reference("orange_two_ml")["loglik"],
                                                   abs=1e-3)
    session.run("estimates store two")
    out = str(session.run("lrtest two one"))
    assert "chi2(1) =     0.08" in out and "0.780" in out
