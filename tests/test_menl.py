"""menl (Lindstrom–Bates) against R's nlme on nlme's own data sets (tests/reference/menl).

Tolerances of the issue: log likelihood 1e-3, fixed effects 1e-3 relative, their SEs 2%,
variance components 2% (absolute for a variance nlme puts at zero).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from menl_cases import fit, reference

import mejax
from mejax.fit.lindstrom_bates import lme_deviance, working_model


def ref_variances(ref: dict, levels: list[str]) -> list[float]:
    """nlme's random-effect variances in mejax's level order (diagonal structures)."""
    out = []
    for level in levels:
        out += list(np.diag(np.atleast_2d(ref["re_cov"][level]["cov"])))
    return out + [ref["sigma"] ** 2]


def check_against_nlme(res, ref: dict, levels: list[str]) -> None:
    assert res.converged
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(res.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(res.fixef_se.to_numpy(), list(ref["fixef_se"].values()), rtol=0.02)
    n_vc = len(ref_variances(ref, levels))
    np.testing.assert_allclose(res.varcomp["estimate"].to_numpy()[:n_vc],
                               ref_variances(ref, levels), rtol=0.02, atol=1e-6)


@pytest.fixture(scope="module")
def orange():
    return fit("orange")


@pytest.fixture(scope="module")
def theoph():
    return fit("theoph")


def test_orange_ml(orange):
    check_against_nlme(orange, reference("orange_ml"), ["Tree"])
    ref = reference("orange_ml")
    ranef = orange.ranef()["Tree"]["U"]
    np.testing.assert_allclose(ranef.loc[[int(g) for g in ref["ranef"]["Tree"]["groups"]]],
                               np.ravel(ref["ranef"]["Tree"]["values"]), rtol=1e-3)
    np.testing.assert_allclose(orange.predict("yhat"), ref["fitted"], rtol=1e-5)


def test_theoph_two_independent_effects(theoph):
    check_against_nlme(theoph, reference("theoph_ml"), ["Subject"])


def test_nested_plots_within_years():
    check_against_nlme(fit("soybean_nested"), reference("soybean_nested_ml"), ["Plot", "Year"])


def test_power_of_the_mean_residual_variance():
    res = fit("soybean_power")
    ref = reference("soybean_power_ml")
    check_against_nlme(res, ref, ["Plot"])
    delta = res.varcomp.set_index("var1").loc["delta", "estimate"]
    assert delta == pytest.approx(ref["varfunc"]["power"], rel=1e-3)


def test_reml_is_the_linearised_restricted_likelihood(orange):
    """nlme's REML keeps the ML θ and only rescales σ² by n/(n-p): its log likelihood is the
    linearised REML criterion at the ML estimates. mejax maximises that criterion, so it
    reproduces nlme's value there and ends at least as high."""
    ref = reference("orange_reml")
    model = dataclasses.replace(orange.design.model, reml=True)
    f = orange._fit
    x, zs, work, fitted = working_model(jnp.asarray(f.beta), tuple(map(jnp.asarray, f.us)),
                                        jnp.asarray(f.theta), orange.design.arrays, model)
    at_ml = -0.5 * float(lme_deviance(jnp.asarray(f.theta), x, zs, work, fitted,
                                      orange.design.arrays, model))
    assert at_ml == pytest.approx(ref["loglik"], abs=1e-3)
    reml = fit("orange", reml=True)
    assert reml.converged and reml.reml
    assert reml.loglik >= ref["loglik"] - 1e-6


def test_summary_tests_and_ic(orange):
    text = str(orange.summary())
    assert "Mixed-effects ML nonlinear regression" in text and "/Asym" in text
    assert "var(U)" in text and "var(Residual)" in text
    assert orange.test("Asym = 190")["df"] == 1
    lc = orange.lincom("xmid - scal")
    assert lc["estimate"] == pytest.approx(orange.fixef["xmid"] - orange.fixef["scal"])
    assert orange.estat_ic()["df"] == 5
    assert orange.aic == pytest.approx(-2 * orange.loglik + 10)


def _orange_mean(p, d):
    return (p["b1"] + p["U"]) / (1 + jnp.exp(-(d["age"] - p["b2"]) / p["b3"]))


ORANGE = {"response": "circumference", "fixed": {"b1": 192.0, "b2": 728.0, "b3": 353.0},
          "random": {"U": "Tree"}}


def test_bad_input_is_named_before_fitting():
    df = mejax.datasets.load("orange")
    with pytest.raises(mejax.DataError, match="level variable 'Plot' not found"):
        mejax.menl(_orange_mean, df, **{**ORANGE, "random": {"U": "Plot"}})
    with pytest.raises(mejax.DataError, match="response 'height' not found"):
        mejax.menl(_orange_mean, df, **{**ORANGE, "response": "height"})
    with pytest.raises(mejax.DataError, match="not finite at the starting values in rows"):
        mejax.menl(lambda p, d: p["b1"] + p["U"] + p["b3"] * jnp.log(d["age"] - p["b2"]), df,
                   **ORANGE)
    with pytest.raises(mejax.SpecError, match="neither a parameter nor a numeric column"):
        mejax.menl(lambda p, d: p["b1"] * d["nope"], df, **ORANGE)
    with pytest.raises(mejax.SpecError, match="needs response="):
        mejax.menl(_orange_mean, df, fixed=ORANGE["fixed"], random=ORANGE["random"])
