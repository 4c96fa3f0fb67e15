"""GLMM post-estimation: empirical Bayes effects, predictions, latent ICC and margins.

References: lme4's conditional modes and condVar standard errors
(tests/reference/make_refs_glmm_predict.R), evaluated at lme4's estimates so that
the optimisers' agreement does not enter; posterior means and marginal means
against brute-force numerical integration (scipy); margins against a direct
computation with a finite-difference delta method; the Stata session's seed
sequence ``melogit y x1 x2 i.a || id:`` then ``margins a, at(x1 = (-10(1)10))``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE
from scipy import integrate, special, stats

import mejax
from mejax.fit.glmm import prepare, reported_values
from mejax.fit.glmm_report import glmm_report
from mejax.inference._common import HypothesisError
from mejax.inference.margins import marginsplot
from mejax.results.glmm_result import GlmmResult
from mejax.spec.design import build_design
from mejax.spec.model import SpecError
from mejax.spec.stata import parse_stata


# ---- results at given estimates (no fit) ----------------------------------------------------
def result_at(command: str, data: pd.DataFrame, params, vcov=None) -> GlmmResult:
    """A GlmmResult at ``params`` (β, θ, aux) with ``vcov`` as the inverse information."""
    spec = parse_stata(command)
    design = build_design(spec, data)
    method = spec.options.get("intmethod", "laplace")
    model, arrays = prepare(design, "laplace" if method == "laplace" else "mvaghq",
                            1 if method == "laplace" else 7)
    params = np.asarray(params, dtype=float)
    n = len(params)
    info = np.linalg.inv(np.eye(n) if vcov is None else vcov)

    def inference():
        import jax

        jacs = jax.jacfwd(reported_values)(params, model)
        return info, [np.asarray(j) for j in jacs], [np.asarray(v) for v in
                                                     reported_values(params, model)]

    fit = {"params": params, "model": model, "arrays": arrays, "beta": params[: model.p],
           "order": list(range(len(design.re_terms))), "converged": True, "loglik": np.nan,
           "base_loglik": np.nan, "inference": inference}
    return GlmmResult(design, glmm_report(design, fit), options=dict(spec.options))


def reference_case(case_id: str):
    case = json.loads((REFERENCE / "cases" / f"{case_id}.json").read_text())
    data = pd.read_csv(REFERENCE / "data" / case["data"])
    return case, case["reference"], data


def lme4_beta(case, ref, design) -> np.ndarray:
    to_r = {v: k for k, v in case["model"]["stata_names"].items()}
    return np.array([ref["fixef"][to_r[name]] for name in design.x_names])


@pytest.fixture(scope="module")
def cbpp():
    case, ref, data = reference_case("predict_glmm_cbpp_binomial_laplace")
    spec_design = build_design(parse_stata(case["model"]["stata"]), data)
    params = np.concatenate([lme4_beta(case, ref, spec_design), [ref["theta"][
        "herd.(Intercept)"]]])
    return result_at(case["model"]["stata"], data, params), ref


# ---- lme4: conditional modes and condVar ------------------------------------------------
def test_ebmodes_match_lme4_random_intercept(cbpp):
    res, ref = cbpp
    table = res.ranef(ebmodes=True)["herd"]
    term = ref["ranef"][0]
    assert list(table.index.astype(str)) == term["levels"]
    np.testing.assert_allclose(table["_cons"], term["b_(Intercept)"], atol=1e-7)
    np.testing.assert_allclose(table["se__cons"], term["se_(Intercept)"], atol=1e-7)
    # fitted values conditional on the modes: lme4's p; Stata's mu is size * p
    pr = res.predict("pr", conditional="ebmodes")
    np.testing.assert_allclose(pr, ref["fitted_response"], atol=1e-8)
    mu = res.predict("mu", conditional="ebmodes")
    np.testing.assert_allclose(mu, res.design.glm.data["trials"] * pr, rtol=1e-12)
    eta = res.predict("eta", conditional="ebmodes")
    np.testing.assert_allclose(eta, ref["fitted_link"], atol=1e-7)


def test_ebmodes_match_lme4_random_slope():
    case, ref, data = reference_case("predict_glmm_contraception_slope_laplace")
    command = case["model"]["stata"]
    design = build_design(parse_stata(command), data)
    assert design.re_terms[0].effect_names == ["urban", "_cons"]
    # lme4's theta: lower Cholesky factor in (Intercept, urban) order; mejax's is (urban, _cons)
    t = ref["theta"]
    low = np.array([[t["district.(Intercept)"], 0.0],
                    [t["district.urban.(Intercept)"], t["district.urban"]]])
    sigma = (low @ low.T)[::-1, ::-1]
    lam = np.linalg.cholesky(sigma)
    params = np.concatenate([lme4_beta(case, ref, design), lam[np.tril_indices(2)]])
    res = result_at(command, data, params)
    table = res.ranef(ebmodes=True)["district"]
    term = ref["ranef"][0]
    for ours, theirs in (("urban", "urban"), ("_cons", "(Intercept)")):
        np.testing.assert_allclose(table[ours], term[f"b_{theirs}"], atol=1e-7)
        np.testing.assert_allclose(table[f"se_{ours}"], term[f"se_{theirs}"], atol=1e-7)
    np.testing.assert_allclose(res.predict("mu", conditional="ebmodes"),
                               ref["fitted_response"], atol=1e-8)
    # per-observation random effects and SEs line up with the table
    reff = res.predict("reffects", conditional="ebmodes")
    codes = design.re_terms[0].codes
    np.testing.assert_allclose(reff["district: urban"], table["urban"].to_numpy()[codes])
    reses = res.predict("reses", conditional="ebmodes")
    np.testing.assert_allclose(reses["district: _cons"], table["se__cons"].to_numpy()[codes])


def test_ebmodes_match_lme4_nested():
    case, ref, data = reference_case("predict_glmm_grouseticks_nested_laplace")
    command = case["model"]["stata"]
    design = build_design(parse_stata(command), data)
    theta = [ref["theta"]["LOCATION.(Intercept)"], ref["theta"]["BROOD:LOCATION.(Intercept)"]]
    res = result_at(command, data, np.concatenate([lme4_beta(case, ref, design), theta]))
    assert res.model.engine == "nested" and res.integration == "laplace"
    tables = res.ranef(ebmodes=True)
    by_group = {t["group"]: t for t in ref["ranef"]}
    loc = tables["LOCATION"]
    np.testing.assert_allclose(loc["_cons"], by_group["LOCATION"]["b_(Intercept)"], atol=1e-7)
    np.testing.assert_allclose(loc["se__cons"], by_group["LOCATION"]["se_(Intercept)"],
                               atol=1e-7)
    brood = by_group["BROOD:LOCATION"]
    mine = tables[design.re_terms[1].label]
    keys = [f"{b}:{loc_}" for loc_, b in mine.index]
    mine = mine.set_axis(keys)
    np.testing.assert_allclose(mine.loc[brood["levels"], "_cons"], brood["b_(Intercept)"],
                               atol=1e-7)
    np.testing.assert_allclose(mine.loc[brood["levels"], "se__cons"], brood["se_(Intercept)"],
                               atol=1e-7)
    np.testing.assert_allclose(res.predict("mu", conditional="ebmodes"),
                               ref["fitted_response"], rtol=1e-8)
    # nested levels have modes only: ebmeans falls back with a warning
    with pytest.warns(UserWarning, match="ebmodes"):
        assert res.ranef()["LOCATION"].attrs["kind"] == "ebmodes"
    # marginal mean: the two levels' effects integrated out (a product Gauss-Hermite rule)
    xb = res.predict("xb").to_numpy()
    xi, w = np.polynomial.hermite.hermgauss(40)
    b1, b2 = np.sqrt(2) * theta[0] * xi, np.sqrt(2) * theta[1] * xi
    grid = np.exp(b1[:, None] + b2[None, :]) * np.outer(w, w) / np.pi
    np.testing.assert_allclose(res.predict("mu", marginal=True), np.exp(xb) * grid.sum(),
                               rtol=1e-10)


# ---- posterior means and marginal means: brute-force integration ---------------------------
def _posterior_moments_quad(res, herd: int, centre: float) -> tuple[float, float]:
    design = res.design
    sigma = res.params[-1]
    eta0 = design.x @ res.params[: res.model.p]
    y, m = design.glm.data["y"], design.glm.data["trials"]
    rows = design.re_terms[0].codes == herd

    def logpost(b):
        e = eta0[rows] + b
        return (np.sum(y[rows] * special.log_expit(e) + (m[rows] - y[rows])
                       * special.log_expit(-e)) + stats.norm.logpdf(b, 0, sigma))

    c = logpost(centre)
    moments = [integrate.quad(lambda b, k=k: b**k * np.exp(logpost(b) - c), -8, 8,
                              points=[centre], epsabs=1e-14, epsrel=1e-13)[0]
               for k in (0, 1, 2)]
    mean = moments[1] / moments[0]
    return mean, np.sqrt(moments[2] / moments[0] - mean**2)


def test_ebmeans_against_numerical_integration(cbpp):
    res, _ = cbpp
    means = res.ranef()["herd"]  # Stata's default: 7-point mean-variance AGHQ
    assert means.attrs["kind"] == "ebmeans"
    fine = res.ranef(nodes=30)["herd"]
    modes = res.ranef(ebmodes=True)["herd"]
    exact = np.array([_posterior_moments_quad(res, h, modes["_cons"].iloc[h])
                      for h in range(len(means))])
    np.testing.assert_allclose(means["_cons"], exact[:, 0], atol=2e-5)
    np.testing.assert_allclose(means["se__cons"], exact[:, 1], atol=1e-4)
    np.testing.assert_allclose(fine["_cons"], exact[:, 0], atol=1e-10)
    np.testing.assert_allclose(fine["se__cons"], exact[:, 1], atol=1e-10)
    assert np.max(np.abs(means["_cons"] - modes["_cons"])) > 1e-3  # means are not modes
    # predictions conditional on the means plug them into the linear predictor
    eta = res.predict("eta")
    codes = res.design.re_terms[0].codes
    np.testing.assert_allclose(eta, res.predict("xb") + means["_cons"].to_numpy()[codes])


def test_marginal_mean_against_numerical_integration(cbpp):
    res, _ = cbpp
    sigma = res.params[-1]
    xb = res.predict("xb").to_numpy()
    m = res.design.glm.data["trials"]
    direct = np.array([m[i] * integrate.quad(
        lambda b, i=i: special.expit(xb[i] + b) * stats.norm.pdf(b, 0, sigma), -12 * sigma,
        12 * sigma, epsabs=1e-14)[0] for i in range(len(xb))])
    np.testing.assert_allclose(res.predict("mu", marginal=True), direct, rtol=1e-10)
    np.testing.assert_allclose(res.predict("pr", marginal=True), direct / m, rtol=1e-10)
    # fixedonly: the random effects at zero
    np.testing.assert_allclose(res.predict("mu", conditional="fixedonly"),
                               m * special.expit(xb), rtol=1e-12)
    # density, Pearson and deviance residuals conditional on the means
    mu = res.predict("mu").to_numpy()
    y = res.design.glm.data["y"]
    np.testing.assert_allclose(res.predict("density"), stats.binom.pmf(y, m, mu / m),
                               rtol=1e-10)
    np.testing.assert_allclose(res.predict("pearson"),
                               (y - mu) / np.sqrt(mu * (1 - mu / m)), rtol=1e-10)
    dev = 2 * (special.xlogy(y, y / mu) + special.xlogy(m - y, (m - y) / (m - mu)))
    np.testing.assert_allclose(res.predict("deviance"), np.sign(y - mu) * np.sqrt(dev),
                               rtol=1e-8)


def test_predict_new_data(cbpp):
    res, _ = cbpp
    frame = res.design.frame
    new = pd.DataFrame({"herd": [1, 1, 999, 3], "period": [1, 4, 2, np.nan],
                        "size": [10, 10, 10, 10], "incidence": [2, 0, 1, 1]})
    mu = res.predict("mu", data=new)
    p_in = res.predict("pr")
    first = frame["herd"].to_numpy() == 1
    periods = frame["period"].to_numpy()
    assert mu.iloc[0] == pytest.approx(10 * p_in[first & (periods == 1)].iloc[0], rel=1e-12)
    assert mu.iloc[1] == pytest.approx(10 * p_in[first & (periods == 4)].iloc[0], rel=1e-12)
    fixed = res.predict("mu", data=new, conditional="fixedonly")
    assert mu.iloc[2] == pytest.approx(fixed.iloc[2], rel=1e-12)  # unseen herd: b = 0
    assert np.isnan(mu.iloc[3])
    reses = res.predict("reses", data=new)
    assert reses.iloc[2, 0] == pytest.approx(res.params[-1])  # unseen: the prior SD
    assert res.predict("density", data=new).iloc[0] == pytest.approx(
        stats.binom.pmf(2, 10, mu.iloc[0] / 10), rel=1e-10)


# ---- response-scale margins: Poisson with exposure, ordinal (at fixed estimates) --------------
def _sim_counts() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n, groups = 240, 24
    ids = np.repeat(np.arange(groups), n // groups)
    x1, a = rng.normal(size=n), rng.integers(1, 4, n)
    t = rng.uniform(0.5, 2.0, n)
    eta = 0.2 + 0.5 * x1 + 0.3 * (a == 2) - 0.2 * (a == 3) + rng.normal(0, 0.6, groups)[ids]
    return pd.DataFrame({"x1": x1, "a": a, "id": ids, "t": t,
                         "c": rng.poisson(t * np.exp(eta)),
                         "o": np.digitize(eta + rng.logistic(size=n), [-0.5, 0.8, 2.0])})


def _fd_jacobian(fn, params, h=1e-6):
    cols = []
    for j in range(len(params)):
        step = np.zeros(len(params))
        step[j] = h
        cols.append((fn(params + step) - fn(params - step)) / (2 * h))
    return np.array(cols).T


def test_margins_poisson_exposure_direct():
    data = _sim_counts()
    cmd = "mepoisson c x1 i.a || id:, exposure(t) intmethod(laplace)"
    params = np.array([0.5, 0.3, -0.2, 0.2, 0.6])  # x1, 2.a, 3.a, _cons, sd
    vcov = np.diag([0.01, 0.02, 0.02, 0.03, 0.01]) + 0.002
    res = result_at(cmd, data, params, vcov)
    assert res.design.x_names == ["x1", "2.a", "3.a", "_cons"]

    def direct(p, a_level):
        eta = p[0] * data["x1"] + p[1] * (a_level == 2) + p[2] * (a_level == 3) + p[3]
        return np.array([np.mean(data["t"] * np.exp(eta + 0.5 * p[4] ** 2))])

    table = res.margins("a")["table"]
    for k, row in zip((1, 2, 3), table.itertuples()):
        J = _fd_jacobian(lambda p, k=k: direct(p, k), params)
        assert row.margin == pytest.approx(direct(params, k)[0], rel=1e-10)
        assert row.std_err == pytest.approx(np.sqrt(J @ vcov @ J.T)[0, 0], rel=1e-6)
    # the in-sample mean includes the exposure
    np.testing.assert_allclose(res.predict("mu", marginal=True),
                               data["t"] * np.exp(res.predict("xb") - np.log(data["t"])
                                                  + 0.5 * 0.36), rtol=1e-12)
    assert "Expression: Marginal predicted mean, predict()" in str(res.margins("a"))
    # P(y = 0) margin after a count model needs outcome()
    with pytest.raises(HypothesisError, match="outcome"):
        res.margins(", predict(pr)")
    p0 = res.margins(", predict(pr outcome(0))")["table"]["margin"].iloc[0]
    eta = res.predict("xb").to_numpy()
    xi, w = np.polynomial.hermite.hermgauss(80)
    mu = np.exp(eta[:, None] + np.sqrt(2) * 0.6 * xi)
    assert p0 == pytest.approx(np.mean(np.exp(-mu) @ w / np.sqrt(np.pi)), rel=1e-8)
    with pytest.raises(SpecError, match="logit and probit"):
        res.icc()


def test_margins_ordinal_all_outcomes():
    data = _sim_counts()
    cmd = "meologit o x1 i.a || id:, intmethod(laplace)"
    cuts = np.array([-0.5, 0.8, 2.0])
    design = build_design(parse_stata(cmd), data)
    coef = {"x1": 0.9, "1.a": 0.1, "2.a": 0.4, "3.a": -0.1}  # no constant: the cutpoints
    beta = np.array([coef[name] for name in design.x_names])
    params = np.concatenate([beta, [0.7, cuts[0], np.log(cuts[1] - cuts[0]),
                                    np.log(cuts[2] - cuts[1])]])
    res = result_at(cmd, data, params)
    out = res.margins("a")
    table = out["table"]
    assert len(table) == 12 and list(table["outcome"].unique()) == ["1", "2", "3", "4"]
    xi, w = np.polynomial.hermite.hermgauss(100)

    def direct(a_level):
        shift = coef[f"{a_level}.a"] if f"{a_level}.a" in design.x_names else 0.0
        eta = coef["x1"] * data["x1"].to_numpy() + shift
        e = eta[:, None] + np.sqrt(2) * 0.7 * xi
        cum = [special.expit(c - e) @ w / np.sqrt(np.pi) for c in cuts]
        cum = np.column_stack([np.zeros(len(eta))] + cum + [np.ones(len(eta))])
        return np.diff(cum, axis=1).mean(axis=0)

    for k in (1, 2, 3):
        got = table[table["level"] == str(k)]["margin"].to_numpy()
        np.testing.assert_allclose(got, direct(k), rtol=1e-9)
    np.testing.assert_allclose(table.groupby("level")["margin"].sum(), 1.0, rtol=1e-12)
    assert "1._predict: Marginal probability (o==0)" in str(out)
    one = res.margins("a, predict(pr outcome(2))")["table"]
    np.testing.assert_allclose(one["margin"], table[table["outcome"] == "3"]["margin"])
    probs = res.predict("pr", marginal=True)
    assert list(probs.columns) == ["pr(0)", "pr(1)", "pr(2)", "pr(3)"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    marginsplot(res.margins(", at(x1=(-1 0 1))"))
    with pytest.raises(SpecError, match="ordinal"):
        res.predict("mu")
    assert res.icc()["icc"].iloc[0] == pytest.approx(0.49 / (0.49 + np.pi**2 / 3))


# ---- the Stata session: seed sequence, margins, ICC, tests --------------------------------
def _sim_binary() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    n, groups = 600, 30
    ids = np.repeat(np.arange(1, groups + 1), n // groups)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    a = rng.integers(1, 4, n)
    eta = -0.5 + 0.8 * x1 - 0.5 * x2 + 0.4 * (a == 2) - 0.3 * (a == 3) + rng.normal(
        0, 0.9, groups)[ids - 1]
    return pd.DataFrame({"y": (rng.random(n) < special.expit(eta)).astype(int), "x1": x1,
                         "x2": x2, "a": a, "id": ids})


@pytest.fixture(scope="module")
def seed_session():
    session = mejax.StataSession(_sim_binary(), echo=False)
    session.run("melogit y x1 x2 i.a || id:")
    return session


def _binary_margin(res, data, params, a_level, x1):
    names = list(res.fixef.index)
    b = dict(zip(names, params[: len(names)]))
    eta = (b["x1"] * x1 + b["x2"] * data["x2"].to_numpy() + b["2.a"] * (a_level == 2)
           + b["3.a"] * (a_level == 3) + b["_cons"])
    sigma = params[len(names)]
    value = integrate.quad_vec(lambda u: special.expit(eta + u) * stats.norm.pdf(u, 0, sigma),
                               -12 * sigma, 12 * sigma, epsabs=1e-13)[0]
    return np.array([value.mean()])


def test_session_seed_margins(seed_session):
    text = str(seed_session.run("margins a, at(x1 = (-10(1)10))"))
    out = seed_session.last_margins
    res, data = seed_session.results, seed_session.data
    table = out["table"]
    assert len(table) == 63 and "Expression: Marginal predicted mean, predict()" in text
    assert "21._at: x1 = 10" in text
    assert np.all(np.diff(table[table["level"] == "1"]["margin"]) > 0)
    V = res.params_vcov
    for i in (0, 31, 62):
        row = table.iloc[i]
        a_level, x1 = int(row["level"]), float(row["at:x1"])
        est = _binary_margin(res, data, res.params, a_level, x1)[0]
        J = _fd_jacobian(lambda p, a_level=a_level, x1=x1: _binary_margin(res, data, p,
                                                                          a_level, x1),
                         res.params, h=1e-5)
        assert row["margin"] == pytest.approx(est, rel=1e-9)
        assert row["std_err"] == pytest.approx(np.sqrt(J @ V @ J.T)[0, 0], rel=1e-5)
    assert "figure 1" in seed_session.run("marginsplot")
    # average marginal effect of x1: the derivative of the marginal mean, averaged
    dydx = res.margins(", dydx(x1)")["table"]["dydx"].iloc[0]
    b1, sigma = res.fixef["x1"], res.params[len(res.fixef)]
    eta = res.predict("xb").to_numpy()
    deriv = integrate.quad_vec(
        lambda u: b1 * special.expit(eta + u) * special.expit(-eta - u)
        * stats.norm.pdf(u, 0, sigma), -12 * sigma, 12 * sigma, epsabs=1e-13)[0]
    assert dydx == pytest.approx(deriv.mean(), rel=1e-6)
    fixed = res.margins("a, predict(mu fixedonly)")["table"]["margin"]
    x = res.design.x
    for k in (1, 2, 3):
        xk = x.copy()
        xk[:, 2], xk[:, 3] = k == 2, k == 3
        assert fixed.iloc[k - 1] == pytest.approx(special.expit(xk @ res.fixef).mean(),
                                                  rel=1e-12)
    with pytest.raises(HypothesisError, match="not allowed"):
        res.margins("a, predict(mu ebmeans)")


def test_session_predict_icc_and_tests(seed_session):
    s = seed_session
    res = s.results
    assert "posterior means" in s.run("predict p")
    s.run("predict pfix, conditional(fixedonly)")
    s.run("predict re, reffects reses(se)")
    s.run("predict xbhat, xb")
    np.testing.assert_allclose(s.data["p"], res.predict("mu"))
    np.testing.assert_allclose(s.data["pfix"], special.expit(s.data["xbhat"]))
    means = res.ranef()["id"]
    np.testing.assert_allclose(s.data["re"], means["_cons"].to_numpy()[s.data["id"] - 1])
    np.testing.assert_allclose(s.data["se"], means["se__cons"].to_numpy()[s.data["id"] - 1])
    # latent-scale ICC and its delta-method SE from the variance's SE
    text = str(s.run("estat icc"))
    assert "Residual intraclass correlation" in text
    var = res.varcomp["estimate"].iloc[0]
    se_var = res.varcomp["std_err"].iloc[0]
    icc = res.icc().iloc[0]
    resid = np.pi**2 / 3
    assert icc["icc"] == pytest.approx(var / (var + resid), rel=1e-12)
    assert icc["std_err"] == pytest.approx(resid / (var + resid) ** 2 * se_var, rel=1e-8)
    # Wald tests and information criteria work on the GLMM's estimates
    assert "chi2(  2)" in str(s.run("test x1 x2"))
    assert "Contrasts of marginal linear predictions" in str(s.run("contrast a"))
    assert "2 vs 1" in str(s.run("pwcompare a"))
    ic = s.run("estat ic")
    assert f"{2 * 6 - 2 * res.loglik:.4f}"[:8] in str(ic)
    lin = res.lincom("x1 - x2")
    assert lin["estimate"] == pytest.approx(res.fixef["x1"] - res.fixef["x2"])


def test_latent_icc_two_nested_levels():
    rng = np.random.default_rng(3)
    school = np.repeat(np.arange(10), 15)
    klass = np.repeat(np.arange(30), 5)
    data = pd.DataFrame({"school": school, "class": klass, "x": rng.normal(size=150),
                         "y": rng.integers(0, 2, 150)})
    s1, s2 = 0.8, 0.5
    params = np.array([0.3, -0.2, s1, s2])  # x, _cons, sd(school), sd(class)
    vcov = np.diag([0.01, 0.02, 0.04, 0.05]) + 0.001
    res = result_at("meprobit y x || school: || class:, intmethod(laplace)", data, params,
                    vcov)
    table = res.icc()
    assert list(table["level"]) == ["school", "class|school"]  # as after mixed
    total = s1**2 + s2**2 + 1.0
    assert table["icc"].iloc[0] == pytest.approx(s1**2 / total, rel=1e-12)
    assert table["icc"].iloc[1] == pytest.approx((s1**2 + s2**2) / total, rel=1e-12)
    # delta method in (sd_school, sd_class) directly
    g_school = np.array([0, 0, 2 * s1 * (1 + s2**2), -2 * s2 * s1**2]) / total**2
    g_both = np.array([0, 0, 2 * s1, 2 * s2]) / total**2
    assert table["std_err"].iloc[0] == pytest.approx(np.sqrt(g_school @ vcov @ g_school),
                                                     rel=1e-10)
    assert table["std_err"].iloc[1] == pytest.approx(np.sqrt(g_both @ vcov @ g_both),
                                                     rel=1e-10)
