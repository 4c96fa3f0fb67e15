"""menl (Lindstrom–Bates) against R's nlme on nlme's own data sets (tests/reference/menl).

Tolerances of the issue: log likelihood 1e-3, fixed effects 1e-3 relative, their SEs 2%,
variance components 2% (absolute for a variance nlme puts at zero). Fits: Orange (also by
REML: without residual or variance-function parameters nlme's REML iteration is the ML
one, compiled apart), Theoph, the variety slope with a power-of-the-mean variance, and
plots nested in years.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from menl_cases import NESTED, ORANGE, THEOPH, VARIETY_POWER, first_order, reference, soybean

import mejax


def ref_variances(ref: dict, levels: list[str]) -> list[float]:
    """nlme's random-effect variances in mejax's level order (diagonal structures)."""
    out = []
    for level in levels:
        out += list(np.diag(np.atleast_2d(ref["re_cov"][level]["cov"])))
    return out + [ref["sigma"] ** 2]


def check_against_nlme(res, ref: dict, levels: list[str], order=None) -> None:
    assert res.converged
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    fixef = res.fixef if order is None else res.fixef[order]
    se = res.fixef_se if order is None else res.fixef_se[order]
    np.testing.assert_allclose(fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(se.to_numpy(), list(ref["fixef_se"].values()), rtol=0.02)
    n_vc = len(ref_variances(ref, levels))
    np.testing.assert_allclose(res.varcomp["estimate"].to_numpy()[:n_vc],
                               ref_variances(ref, levels), rtol=0.02, atol=1e-5)


@pytest.fixture(scope="module")
def orange_data():
    return mejax.datasets.load("orange")


@pytest.fixture(scope="module")
def orange(orange_data):
    return mejax.stata(ORANGE, orange_data)


@pytest.fixture(scope="module")
def theoph_data():
    return mejax.datasets.load("theoph")


def test_orange_ml_from_stata_syntax(orange):
    ref = reference("orange_ml")
    check_against_nlme(orange, ref, ["Tree"])
    assert list(orange.fixef.index) == ["b1", "b2", "b3"]
    ranef = orange.ranef()["Tree"]["U"]
    np.testing.assert_allclose(ranef.loc[[int(g) for g in ref["ranef"]["Tree"]["groups"]]],
                               np.ravel(ref["ranef"]["Tree"]["values"]), rtol=1e-3)
    np.testing.assert_allclose(orange.predict("yhat"), ref["fitted"], rtol=1e-5)


def test_orange_reml_is_nlmes(orange_data):
    """nlme's REML: the ML fixed point with the restricted criterion there (R, checked in
    make_refs_menl.R from another start): loglik, σ², variances and SEs all match."""
    res = mejax.stata(ORANGE + " reml", orange_data)
    assert res.reml and "restricted" in str(res)
    check_against_nlme(res, reference("orange_reml"), ["Tree"])


@pytest.fixture(scope="module")
def theoph(theoph_data):
    return mejax.menl(first_order, theoph_data, **THEOPH)


def test_theoph_jax_function(theoph):
    check_against_nlme(theoph, reference("theoph_ml"), ["Subject"])


def test_pk_batch_reproduces_single_fits(theoph, theoph_data):
    """Three simulated studies in one call: each fit is the single fit of that study (from
    its own start) to 1e-6."""
    rng = np.random.default_rng(3)
    ys = theoph.design.y * np.exp(0.15 * rng.normal(size=(3, theoph.nobs)))
    singles = [mejax.menl(first_order, theoph_data.assign(conc=y), **THEOPH) for y in ys]
    batch = theoph.refit_batch(ys)
    assert batch["converged"].all()
    for row, single in zip(batch.itertuples(), singles):
        np.testing.assert_allclose([row.lKe, row.lKa, row.lCl], single.fixef, rtol=1e-6)
        assert row.sigma2 == pytest.approx(single.sigma2, rel=1e-6)
        assert row.loglik == pytest.approx(single.loglik, abs=1e-6)
    with pytest.raises(ValueError, match="lanes"):
        theoph.refit_batch(ys, lanes=0)


def test_variety_slope_with_power_variance():
    """define(phi1: U0[Plot] variety 1.variety#U1[Plot]) and resvariance(power _yhat)."""
    res = mejax.stata(VARIETY_POWER, soybean())
    ref = reference("soybean_variety_power_ml")
    check_against_nlme(res, ref, ["Plot"], order=["phi1:_cons", "phi1:variety", "b2", "b3"])
    delta = res.varcomp.set_index("var1").loc["delta", "estimate"]
    assert delta == pytest.approx(ref["varfunc"]["power"], rel=1e-3)
    text = str(res)  # Stata's layout: the linear combination's rows under its name
    assert "phi1         |\n     variety |" in text and "       _cons |" in text
    assert "         /b2 |" in text and "Power _yhat" in text


def test_nested_plots_within_years():
    res = mejax.menl(NESTED, soybean())
    check_against_nlme(res, reference("soybean_nested_ml"), ["Plot", "Year"])
    assert [lv.name for lv in res.design.levels] == ["Plot<Year", "Year"]
    year_only = res.predict("yhat", relevel="Year")
    fixed = res.predict("yhat", fixedonly=True)
    assert not np.allclose(year_only, fixed) and not np.allclose(year_only, res.predict())
    assert list(res.predict("reffects", relevel="Year").columns) == ["U1", "U2"]


def test_summary_tests_and_ic(orange):
    text = str(orange.summary())
    assert "Mixed-effects ML nonlinear regression" in text and "/b1" in text
    assert "var(U)" in text and "var(Residual)" in text
    assert orange.test("b1 = 190")["df"] == 1
    lc = orange.lincom("b2 - b3")
    assert lc["estimate"] == pytest.approx(orange.fixef["b2"] - orange.fixef["b3"])
    assert orange.estat_ic()["df"] == 5
    assert orange.aic == pytest.approx(-2 * orange.loglik + 10)
    phi1 = orange.predict("expression", expression="phi1")
    effects = orange.predict("reffects")["U"].to_numpy()
    np.testing.assert_allclose(phi1, orange.fixef["b1"] + effects)


def _orange_mean(p, d):
    return (p["b1"] + p["U"]) / (1 + jnp.exp(-(d["age"] - p["b2"]) / p["b3"]))


ORANGE_FN = {"response": "circumference", "fixed": {"b1": 192.0, "b2": 728.0, "b3": 353.0},
             "random": {"U": "Tree"}}


def test_bad_input_is_named_before_fitting(orange_data):
    df = orange_data
    with pytest.raises(mejax.DataError, match="level variable 'Plot' not found"):
        mejax.menl(_orange_mean, df, **{**ORANGE_FN, "random": {"U": "Plot"}})
    with pytest.raises(mejax.DataError, match="response 'height' not found"):
        mejax.menl(_orange_mean, df, **{**ORANGE_FN, "response": "height"})
    with pytest.raises(mejax.DataError, match="not finite at the starting values in rows"):
        mejax.menl(lambda p, d: p["b1"] + p["U"] + p["b3"] * jnp.log(d["age"] - p["b2"]), df,
                   **ORANGE_FN)
    with pytest.raises(mejax.SpecError, match="neither a parameter nor a numeric column"):
        mejax.menl(lambda p, d: p["b1"] * d["nope"], df, **ORANGE_FN)
    with pytest.raises(mejax.SpecError, match="needs response="):
        mejax.menl(_orange_mean, df, fixed=ORANGE_FN["fixed"], random=ORANGE_FN["random"])


def test_refit_batch_reproduces_the_fit(orange):
    """Three responses in one call, two vmapped lanes (the second padded): the data itself
    gives the fit's estimates again."""
    y = orange.design.y
    frame = orange.refit_batch(np.stack([y, 1.01 * y, 0.99 * y]), lanes=2)
    assert frame["converged"].all()
    np.testing.assert_allclose(frame.loc[0, ["b1", "b2", "b3"]].to_numpy(dtype=float),
                               orange.fixef.to_numpy(), rtol=1e-6)
    assert frame.loc[0, "loglik"] == pytest.approx(orange.loglik, abs=1e-6)
    assert frame.loc[1, "b1"] == pytest.approx(1.01 * orange.fixef["b1"], rel=1e-3)
    assert frame.loc[2, "b1"] == pytest.approx(0.99 * orange.fixef["b1"], rel=1e-3)
    with pytest.raises(ValueError, match="shape"):
        orange.refit_batch(y[None, :-1])


def test_nonconvergence_is_reported(orange_data, monkeypatch):
    """Iterations that stop at their limit warn, say converged = False and note it in the table."""
    import jax

    from mejax.fit import lindstrom_bates

    monkeypatch.setattr(lindstrom_bates, "MAX_OUTER", 1)
    jax.clear_caches()  # the compiled iteration reads the limit when it is traced
    try:
        with pytest.warns(mejax.ConvergenceWarning, match="Lindstrom-Bates iterations did not"):
            res = mejax.menl(_orange_mean, orange_data, **ORANGE_FN)
    finally:
        jax.clear_caches()
    assert not res.converged and res.iterations == 1
    assert "convergence not achieved after 1" in res.summary()
