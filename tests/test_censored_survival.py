"""Censored (metobit, meintreg) and survival (stset + mestreg) outcomes.

Densities and survivor functions against scipy.stats; without random effects each
survival family's log likelihood at R's estimates (survival::survreg, or a direct
optimisation for Gompertz, gamma and delayed entry) against R's, with a zero score
there; random-intercept fits against a 121-node Gauss-Hermite likelihood maximised
in R (tests/reference/make_refs_censored.R); metobit without censored rows against
mixed; Stata's commands in a session; predict statistics; margins and estat icc against
delta-method values computed in R (tests/reference/make_refs_censored_margins.R);
simulation, batch refits and the functional API; bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mejax
from mejax.errors import DataError, SpecError
from mejax.families import make_family

REF = Path(__file__).parent / "reference" / "censored"
REFS = json.loads((REF / "refs.json").read_text())
MARGINS = json.loads((REF / "margins.json").read_text())


def _rows(family, y, given):
    data, valid = family.response_rows(np.asarray(y, dtype=float), given)
    assert valid.all()
    return {k: jnp.asarray(v) for k, v in data.items()}


# ---- densities against scipy ------------------------------------------------------------------
def test_censored_normal_density_against_scipy():
    eta = np.array([0.3, -0.2, 1.0, 0.5, 2.0])
    sigma = 1.7
    tobit = make_family("tobit", ll=0.0, ul=2.5)
    y = np.array([0.0, 1.2, 2.5, -0.3, 3.0])  # left, exact, right, left, right
    given = {"ll": np.zeros(5), "ul": np.full(5, 2.5)}
    got = np.asarray(tobit.log_density(jnp.asarray(eta), _rows(tobit, y, given),
                                       jnp.array([np.log(sigma)])))
    d = stats.norm(eta, sigma)
    want = [d.logcdf(0)[0], d.logpdf(1.2)[1], d.logsf(2.5)[2], d.logcdf(0)[3], d.logsf(2.5)[4]]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    interval = make_family("interval", upper="hi")
    lo = np.array([np.nan, 1.0, 0.2, -1.0, 0.5])
    hi = np.array([0.1, np.nan, 0.2, 2.0, 0.7])
    got = np.asarray(interval.log_density(jnp.asarray(eta), _rows(interval, lo, {"upper": hi}),
                                          jnp.array([np.log(sigma)])))
    want = [d.logcdf(0.1)[0], d.logsf(1.0)[1], d.logpdf(0.2)[2],
            np.log(d.cdf(2.0)[3] - d.cdf(-1.0)[3]), np.log(d.cdf(0.7)[4] - d.cdf(0.5)[4])]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_censored_normal_derivatives_against_autodiff():
    from mejax.families import eta_derivatives_autodiff
    family = make_family("interval", upper="hi")
    lo = np.array([np.nan, 1.0, 0.2, -1.0, 0.5, -30.0, 12.0])
    hi = np.array([0.1, np.nan, 0.2, 2.0, 0.7, np.nan, 12.5])
    data = _rows(family, lo, {"upper": hi})
    eta, aux = jnp.array([0.3, -0.2, 1.0, 0.5, 2.0, 1.0, 0.0]), jnp.array([np.log(1.7)])
    for got, want in zip(family.eta_derivatives(eta, data, aux),
                         eta_derivatives_autodiff(family, eta, data, aux)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-9, atol=1e-12)


SCIPY_SURVIVAL = {  # family, link, aux (estimation scale), scipy distribution of T given η
    "exponential-ph": ("exponential", "ph", [], lambda e: stats.expon(scale=np.exp(-e))),
    "exponential-aft": ("exponential", "aft", [], lambda e: stats.expon(scale=np.exp(e))),
    "weibull-ph": ("weibull", "ph", [0.3], lambda e: stats.weibull_min(
        np.exp(0.3), scale=np.exp(-e / np.exp(0.3)))),
    "weibull-aft": ("weibull", "aft", [0.3], lambda e: stats.weibull_min(
        np.exp(0.3), scale=np.exp(e))),
    "lognormal": ("lognormal", "aft", [-0.2], lambda e: stats.lognorm(np.exp(-0.2),
                                                                      scale=np.exp(e))),
    "loglogistic": ("loglogistic", "aft", [-0.4], lambda e: stats.fisk(
        1 / np.exp(-0.4), scale=np.exp(e))),
    "gamma": ("gamma", "aft", [-0.3], lambda e: stats.gamma(
        np.exp(0.6), scale=np.exp(-0.6) * np.exp(e))),
    "gompertz": ("gompertz", "ph", [0.2], None),  # written out below
}


def _gompertz_logpdf_logsf(t, eta, gamma):
    log_sf = -np.exp(eta) * np.expm1(gamma * t) / gamma
    return eta + gamma * t + log_sf, log_sf


@pytest.mark.parametrize("case", list(SCIPY_SURVIVAL))
def test_survival_density_and_survivor_against_scipy(case):
    name, link, aux, dist = SCIPY_SURVIVAL[case]
    family = make_family(name, link, time="t", failure="d", entry="t0")
    t = np.array([0.4, 1.3, 2.2, 5.0, 0.9])
    eta = np.array([0.1, -0.3, 0.4, -0.8, 0.0])
    fails = np.array([True, False, True, False, True])
    entry = np.array([0.0, 0.5, 0.0, 1.0, 0.2])
    given = {"censor_time": np.where(fails, np.inf, t), "entry": entry}
    got = np.asarray(family.log_density(jnp.asarray(eta), _rows(family, t, given),
                                        jnp.asarray(aux, dtype=float)))
    if name == "gompertz":
        log_f, log_s = _gompertz_logpdf_logsf(t, eta, aux[0])
        log_s0 = _gompertz_logpdf_logsf(entry, eta, aux[0])[1]
    else:
        d = dist(eta)
        log_f, log_s, log_s0 = d.logpdf(t), d.logsf(t), d.logsf(entry)
    want = np.where(fails, log_f, log_s) - np.where(entry > 0, log_s0, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # simulated times: censored at each row's censoring time, beyond its entry
    draws = family.simulate(np.random.default_rng(0), np.tile(eta, (2000, 1)), given,
                            np.asarray(aux, dtype=float))
    assert np.all(draws > entry) and np.all(draws[:, ~fails] <= t[~fails] + 1e-12)
    if name != "gompertz":  # draws of an uncensored row follow its distribution
        free = family.simulate(np.random.default_rng(1), np.full(4000, 0.2),
                               {"censor_time": np.full(4000, np.inf), "entry": np.zeros(4000)},
                               np.asarray(aux, dtype=float))
        assert stats.kstest(free, dist(0.2).cdf).pvalue > 1e-3


# ---- without random effects: R's survreg / direct optimisation ---------------------------------
SURV = pd.read_csv(REF / "surv.csv")


def _loglik_and_score(family, beta, aux, with_entry=False):
    x = np.column_stack([np.ones(len(SURV)), SURV.x1, SURV.x2])
    given = {"censor_time": np.where(SURV.fail == 1, np.inf, SURV.time),
             "entry": SURV.entry.to_numpy() if with_entry else np.zeros(len(SURV))}
    data = _rows(family, SURV.time.to_numpy(), given)

    def total(params):
        return jnp.sum(family.log_density(jnp.asarray(x) @ params[:3], data, params[3:]))

    params = jnp.asarray(np.r_[beta, aux], dtype=float)
    return float(total(params)), np.asarray(jax.grad(total)(params))


@pytest.mark.parametrize("name,link,ref,coef,aux", [
    ("exponential", "ph", "survreg_exponential", "ph", lambda r: []),
    ("exponential", "aft", "survreg_exponential", "aft", lambda r: []),
    ("weibull", "ph", "survreg_weibull", "ph", lambda r: [r["ln_p"]]),
    ("weibull", "aft", "survreg_weibull", "aft", lambda r: [r["ln_p"]]),
    ("lognormal", "aft", "survreg_lognormal", "aft", lambda r: [r["log_scale"]]),
    ("loglogistic", "aft", "survreg_loglogistic", "aft", lambda r: [r["log_scale"]]),
    ("gompertz", "ph", "direct_gompertz", "beta", lambda r: [r["gamma"]]),
    ("gamma", "aft", "direct_gamma", "beta", lambda r: [r["logs"]]),
])
def test_survival_loglik_at_r_estimates(name, link, ref, coef, aux):
    r = REFS[ref]
    family = make_family(name, link, time="time", failure="fail")
    ll, score = _loglik_and_score(family, r[coef], aux(r))
    assert ll == pytest.approx(r["loglik"], abs=1e-6)
    assert np.max(np.abs(score)) < 1e-3  # R's estimates maximise mejax's likelihood too


def test_delayed_entry_loglik_at_r_estimates():
    r = REFS["direct_weibull_entry"]
    family = make_family("weibull", "ph", time="time", failure="fail", entry="entry")
    ll, score = _loglik_and_score(family, r["beta"], [r["ln_p"]], with_entry=True)
    assert ll == pytest.approx(r["loglik"], abs=1e-6)
    assert np.max(np.abs(score)) < 1e-3


# ---- random-intercept fits against R's quadrature ------------------------------------------------
def _close_coefficients(got, want, se):
    """1e-3 relative, or 1% of a standard error for coefficients near zero (mejax integrates
    with Stata's 7 adaptive points, R's reference with 121 fixed ones)."""
    got, want, se = map(np.asarray, (got, want, se))
    assert np.all(np.abs(got - want) <= np.maximum(1e-3 * np.abs(want), 0.01 * se)), (got, want)


def _residual(fit) -> pd.Series:
    """The residual variance row (Stata's var(e.y)) of a censored-normal fit."""
    vc = fit.varcomp
    return vc[vc["group"] == "Residual"].iloc[0]


@pytest.fixture(scope="module")
def tobit_fit():
    return mejax.stata("metobit y x || g:, ll(0) ul(ulv)", pd.read_csv(REF / "tobit.csv"))


def test_tobit_random_intercept_against_r(tobit_fit):
    ref = REFS["tobit_ri"]
    fit = tobit_fit
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    _close_coefficients(fit.fixef[["_cons", "x"]], ref["beta"], ref["beta_se"])
    np.testing.assert_allclose(fit.fixef_se[["_cons", "x"]], ref["beta_se"], rtol=0.02)
    assert fit.varcomp["estimate"].iloc[0] == pytest.approx(ref["var_u"], rel=1e-3)
    assert fit.varcomp["std_err"].iloc[0] == pytest.approx(ref["var_u_se"], rel=0.02)
    residual = _residual(fit)
    assert residual["estimate"] == pytest.approx(ref["var_e"], rel=1e-3)
    assert residual["std_err"] == pytest.approx(ref["var_e_se"], rel=0.02)
    text = str(fit.summary())
    assert "Mixed-effects tobit regression" in text
    assert f"Left-censored     = {ref['n_left']:>10}" in text
    assert "Upper = ulv" in text and "var(e.y)" in text


def test_tobit_predict_statistics(tobit_fit):
    fit = tobit_fit
    xb = fit.predict("xb").to_numpy()
    sigma = np.sqrt(_residual(fit)["estimate"])
    pr = fit.predict("pr", conditional="fixedonly", bounds=(0, None)).to_numpy()
    np.testing.assert_allclose(pr, stats.norm.sf(0, xb, sigma), rtol=1e-10)
    e = fit.predict("e", conditional="fixedonly", bounds=(0, ".")).to_numpy()
    np.testing.assert_allclose(e, stats.truncnorm.mean((0 - xb) / sigma, np.inf, xb, sigma),
                               rtol=1e-8)
    ystar = fit.predict("ystar", conditional="fixedonly", bounds=(0, None)).to_numpy()
    np.testing.assert_allclose(ystar, pr * e, rtol=1e-8)  # E[max(0, y*)]
    var_u = fit.varcomp["estimate"].iloc[0]
    marginal = fit.predict("pr", marginal=True, bounds=(None, 0)).to_numpy()
    np.testing.assert_allclose(marginal, stats.norm.cdf(0, xb, np.sqrt(sigma**2 + var_u)),
                               rtol=1e-10)


@pytest.fixture(scope="module")
def intreg_fit():
    return mejax.meintreg("lo ~ x + (1 | g)", pd.read_csv(REF / "intreg.csv"), upper="hi")


def test_intreg_random_intercept_against_r(intreg_fit):
    ref = REFS["intreg_ri"]
    fit = intreg_fit
    assert fit.nobs == ref["nobs"] and fit.n_dropped == ref["n_dropped"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    _close_coefficients(fit.fixef[["(Intercept)", "x"]], ref["beta"], ref["beta_se"])
    np.testing.assert_allclose(fit.fixef_se[["(Intercept)", "x"]], ref["beta_se"], rtol=0.02)
    assert fit.varcomp["estimate"].iloc[0] == pytest.approx(ref["var_u"], rel=1e-3)
    assert _residual(fit)["estimate"] == pytest.approx(ref["var_e"], rel=1e-3)
    assert "Interval-cens." in str(fit.summary())


def test_metobit_without_censoring_equals_mixed():
    data = pd.read_csv(REF / "tobit.csv").query("y > 0 and y < ulv")
    tobit = mejax.metobit("y ~ x + (1 | g)", data, ll=-100.0)
    linear = mejax.mixed("y ~ x + (1 | g)", data)
    assert tobit.loglik == pytest.approx(linear.loglik, abs=1e-6)
    np.testing.assert_allclose(tobit.fixef, linear.fixef, rtol=1e-5)
    assert _residual(tobit)["estimate"] == pytest.approx(linear.sigma2, rel=1e-5)


def _nested_crossed_slopes_data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    g, s = np.repeat(np.arange(12), 12), np.tile(np.repeat(np.arange(3), 4), 12)
    b, x = np.tile(np.arange(6), 24), rng.normal(size=144)
    y = (1 + 0.5 * x + rng.normal(0, .8, 12)[g] + rng.normal(0, .4, 12)[g] * x
         + rng.normal(0, .5, 36)[g * 3 + s] + rng.normal(0, .6, 6)[b] + rng.normal(size=144))
    return pd.DataFrame({"y": y, "x": x, "g": g, "s": s, "b": b})


@pytest.mark.parametrize("formula, method", [
    ("y ~ x + (1 + x | g)", None),  # a correlated random slope, Stata's 7-point mvaghq
    ("y ~ x + (1 | g) + (1 | g:s)", None),  # two nested levels, mvaghq per level
    ("y ~ x + (1 | g) + (1 | b)", "laplace"),  # crossed effects
])
def test_metobit_without_censoring_equals_mixed_beyond_intercepts(formula, method):
    """The family-independent engine on slopes, nested and crossed levels: exact for y normal."""
    data = _nested_crossed_slopes_data()
    tobit = mejax.metobit(formula, data, ll=-100.0, method=method)
    linear = mejax.mixed(formula, data)
    assert tobit.loglik == pytest.approx(linear.loglik, abs=1e-6)
    np.testing.assert_allclose(tobit.fixef, linear.fixef, rtol=1e-5)
    # mixed's SEs are (X'V⁻¹X)⁻¹, the GLMM's come from the joint observed information over
    # (β, θ, σ): equal asymptotically, 0.3% apart here
    np.testing.assert_allclose(tobit.fixef_se, linear.fixef_se, rtol=0.01)


# ---- survival with random effects: the session, stset, mestreg -----------------------------------
KIDNEY = pd.read_csv(REF / "kidney.csv")


@pytest.fixture(scope="module")
def weibull_session():
    s = mejax.StataSession(KIDNEY)
    s.run("stset time, failure(infect)")
    s.run("mestreg age female || patient:, distribution(weibull)")
    return s


def test_weibull_random_intercept_against_r(weibull_session):
    fit = weibull_session.results
    ref = REFS["weibull_kidney_ri"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    _close_coefficients(fit.fixef[["age", "female", "_cons"]], ref["beta"], ref["beta_se"])
    np.testing.assert_allclose(fit.fixef_se[["age", "female", "_cons"]], ref["beta_se"],
                               rtol=0.02)
    assert fit.aux.loc["/ln_p", "Coefficient"] == pytest.approx(ref["ln_p"], rel=1e-3)
    assert fit.aux.loc["/ln_p", "Std. err."] == pytest.approx(ref["ln_p_se"], rel=0.02)
    assert fit.aux.loc["p", "Coefficient"] == pytest.approx(np.exp(ref["ln_p"]), rel=1e-3)
    assert fit.varcomp["estimate"].iloc[0] == pytest.approx(ref["var_u"], rel=1e-3)
    assert fit.varcomp["std_err"].iloc[0] == pytest.approx(ref["var_u_se"], rel=0.02)
    text = str(fit.summary())
    for piece in ("failure _d: infect", "analysis time _t: time", "Weibull PH regression",
                  "No. of failures   =         58", "Haz. ratio", "LR test vs. Weibull model",
                  "1/p"):
        assert piece in text
    hr = fit.coef_table.loc["female", "Haz. ratio"]
    assert hr == pytest.approx(np.exp(ref["beta"][1]), rel=1e-3)


def test_survival_predictions(weibull_session):
    s = weibull_session
    fit = s.results
    s.run("predict m, median time")
    p = np.exp(fit.aux.loc["/ln_p", "Coefficient"])
    eta = fit.predict("eta").to_numpy()
    np.testing.assert_allclose(s.data["m"], (np.log(2) / np.exp(eta)) ** (1 / p), rtol=1e-8)
    surv = fit.predict("surv", conditional="fixedonly").to_numpy()
    xb = fit.predict("xb").to_numpy()
    np.testing.assert_allclose(surv, np.exp(-np.exp(xb) * KIDNEY.time**p), rtol=1e-8)
    haz = fit.predict("hazard", conditional="fixedonly").to_numpy()
    np.testing.assert_allclose(haz, p * np.exp(xb) * KIDNEY.time ** (p - 1), rtol=1e-8)
    # marginal median: the marginal survivor is one half there
    med = fit.predict("median", marginal=True).to_numpy()[:3]
    var_u = fit.varcomp["estimate"].iloc[0]
    z, w = np.polynomial.hermite_e.hermegauss(80)
    for m, x in zip(med, xb[:3]):
        marginal_s = np.sum(w * np.exp(-np.exp(x + np.sqrt(var_u) * z) * m**p)) / w.sum()
        assert marginal_s == pytest.approx(0.5, abs=1e-8)


@pytest.fixture(scope="module")
def lognormal_fit():
    return mejax.mestreg("~ age + female + (1 | patient)", KIDNEY, time="time",
                         failure="infect", distribution="lognormal")


def test_lognormal_random_intercept_against_r(lognormal_fit):
    ref = REFS["lognormal_kidney_ri"]
    fit = lognormal_fit
    assert fit.eform is None and "AFT" in fit.title
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    _close_coefficients(fit.fixef[["age", "female", "(Intercept)"]], ref["beta"],
                        ref["beta_se"])
    np.testing.assert_allclose(fit.fixef_se[["age", "female", "(Intercept)"]],
                               ref["beta_se"], rtol=0.02)
    assert fit.aux.loc["/logs", "Coefficient"] == pytest.approx(ref["logs"], rel=1e-3)
    assert fit.varcomp["estimate"].iloc[0] == pytest.approx(ref["var_u"], rel=1e-3)


# ---- Stata syntax and bad input (before anything is traced) --------------------------------------
def test_stset_parsing():
    from mejax.families.survival import stata_distribution
    from mejax.spec.survival import parse_stset
    assert [stata_distribution(d) for d in ("e", "weib", "gom", "logl", "ll", "ln", "logn",
                                             "gam", "lnormal", "exp")] == [
        "exponential", "weibull", "gompertz", "loglogistic", "loglogistic", "lognormal",
        "lognormal", "gamma", "lognormal", "exponential"]
    assert stata_distribution("go") is None and stata_distribution("log") is None
    st = parse_stset("time, failure(status==1 3) enter(time t0) id(pid)")
    assert (st.time, st.failure, st.codes, st.entry, st.id) == ("time", "status", (1.0, 3.0),
                                                                 "t0", "pid")
    with pytest.raises(SpecError, match="one time variable"):
        parse_stset("a b, failure(d)")


def test_bad_input_messages():
    df = KIDNEY.copy()
    with pytest.raises(SpecError, match="stset first"):
        mejax.stata("mestreg age || patient:, distribution(weibull)", df)
    with pytest.raises(SpecError, match="unknown distribution"):
        mejax.stata("mestreg age || patient:, distribution(cauchy)", df,
                    st="time, failure(infect)")
    bad = df.assign(time=df.time.where(df.index != 3, 0.0))
    with pytest.raises(DataError, match="must be positive"):
        mejax.mestreg("~ age + (1 | patient)", bad, time="time", failure="infect")
    coded = df.assign(infect=df.infect * 2)
    with pytest.raises(DataError, match="values other than 0 and 1"):
        mejax.mestreg("~ age + (1 | patient)", coded, time="time", failure="infect")
    late = df.assign(t0=df.time + 1)
    with pytest.raises(DataError, match="delayed entry"):
        mejax.mestreg("~ age + (1 | patient)", late, time="time", failure="infect", entry="t0")
    with pytest.raises(DataError, match="no failures"):
        mejax.mestreg("~ age + (1 | patient)", df, time="time", failure="infect",
                      failure_codes=(7,))
    with pytest.raises(SpecError, match="unknown distribution"):
        mejax.mestreg("~ age + (1 | patient)", df, time="time", failure="infect",
                      distribution="cauchy")
    with pytest.raises(SpecError, match=r"unknown distribution\(wx\)"):
        mejax.stata("mestreg age || patient:, distribution(wx)", df, st="time, failure(infect)")
    with pytest.raises(SpecError, match="tratio"):
        mejax.stata("mestreg age || patient:, distribution(weibull) tratio", df,
                    st="time, failure(infect)")
    tob = pd.read_csv(REF / "tobit.csv")
    with pytest.raises(SpecError, match="must be below"):
        mejax.stata("metobit y x || g:, ll(3) ul(1)", tob)
    with pytest.raises(DataError, match="not below ul"):
        mejax.metobit("y ~ x + (1 | g)", tob.assign(low=5.0), ll="low", ul="ulv")
    ints = pd.read_csv(REF / "intreg.csv")
    with pytest.raises(DataError, match="must not exceed"):
        mejax.meintreg("lo ~ x + (1 | g)", ints.assign(hi=ints.lo - 1), upper="hi")
    with pytest.raises(SpecError, match="two dependent variables"):
        mejax.stata("meintreg lo || g:", ints)


def test_stcurve_marginal_survivor(weibull_session):
    from mejax.inference.stcurve import curve_values
    fit = weibull_session.results
    t, curves = curve_values(fit, "survival", at={"female": 1.0}, times=[5.0, 50.0, 200.0])
    p = np.exp(fit.aux.loc["/ln_p", "Coefficient"])
    x = fit.design.x.mean(axis=0)
    x[fit.design.x_names.index("female")] = 1.0
    xb = float(x @ fit.fixef.to_numpy())
    var_u = fit.varcomp["estimate"].iloc[0]
    z, w = np.polynomial.hermite_e.hermegauss(80)
    want = [np.sum(w * np.exp(-np.exp(xb + np.sqrt(var_u) * z) * ti**p)) / w.sum() for ti in t]
    np.testing.assert_allclose(curves["female=1"], want, rtol=1e-8)
    out = weibull_session.run("stcurve, hazard at(female=0)")
    assert "figure" in str(out)


def test_stcurve_graph_options(weibull_session, tmp_path):
    """stcurve takes Stata's graph options as marginsplot does (mejax.graph)."""
    import matplotlib.pyplot as plt

    fit = weibull_session.results
    fig = fit.stcurve("survival", at=[{"female": 0}, {"female": 1}], title="Kidney",
                      recast="scatter")
    assert fig is plt.gcf()
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_ylabel()) == ("Kidney", "Survival")
    assert [line.get_linestyle() for line in ax.get_lines()] == ["None", "None"]
    path = tmp_path / "s.svg"
    weibull_session.run(f'stcurve, cumhaz xtitle("Days") saving({path})')
    assert weibull_session.figures[-1].axes[0].get_xlabel() == "Days"
    assert path.read_bytes().startswith(b"<?xml")
    plt.close("all")


def test_simulation_keeps_censoring_and_entry(weibull_session):
    fit = weibull_session.results
    y = fit.simulate(200, seed=3)
    censored = KIDNEY.infect.to_numpy() == 0
    assert y.shape == (200, len(KIDNEY))
    assert np.all(y[:, censored] <= KIDNEY.time.to_numpy()[censored])
    assert np.all(y > 0)
    frac = np.mean(y[:, censored] < KIDNEY.time.to_numpy()[censored])
    assert 0.0 < frac < 1.0  # some censored rows now fail before their censoring time


# ---- margins and estat icc against R's delta method (make_refs_censored_margins.R) ---------------
def _margin_close(m, ref, rel=1e-3):
    """Margins within 1e-3 relative, their delta-method SEs within 2%, of R's."""
    table = m["table"]
    np.testing.assert_allclose(table["margin" if "margin" in table else "dydx"],
                               np.atleast_1d(ref["est"]), rtol=rel)
    np.testing.assert_allclose(table["std_err"], np.atleast_1d(ref["se"]), rtol=0.02)


@pytest.mark.parametrize("spec, predict, key", [
    ("", "pr(0,.)", "pr_0_inf"),
    ("", "e(0,.)", "e_0_inf"),
    ("", "ystar(0,.)", "ystar_0_inf"),
    ("", "pr(-1,1)", "pr_m1_1"),
    ("", "pr(0,.) fixedonly", "pr_0_inf_fixedonly"),
    (", at(x=(-1 0 1))", "pr(0,.)", "pr_0_inf_at_x"),
    (", dydx(x)", "pr(0,.)", "dydx_x_pr_0_inf"),
])
def test_tobit_margins_against_r(tobit_fit, spec, predict, key):
    _margin_close(tobit_fit.margins(spec, predict=predict), MARGINS["tobit"][key])


def test_tobit_margins_in_a_session_and_marginsplot(tobit_fit):
    import matplotlib.pyplot as plt

    s = mejax.StataSession(pd.read_csv(REF / "tobit.csv"))
    s.results = tobit_fit
    out = str(s.run("margins, at(x=(-1 0 1)) predict(pr(0,.))"))
    assert "Expression: Marginal Pr(0<y<.), predict(pr(0,.))" in out
    s.run("marginsplot")
    icc_text = str(s.run("estat icc"))
    assert "Residual intraclass correlation" in icc_text and "g |" in icc_text
    ax = s.figures[-1].axes[0]
    assert ax.get_ylabel() == "Marginal Pr(0<y<.)"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                               MARGINS["tobit"]["pr_0_inf_at_x"]["est"], rtol=1e-3)
    plt.close("all")
    with pytest.raises(SpecError, match="needs its interval"):
        tobit_fit.margins(predict="pr")
    with pytest.raises(SpecError, match="lower bound must be below"):
        tobit_fit.margins(predict="e(2,1)")
    with pytest.raises(SpecError, match="not allowed"):
        tobit_fit.margins(predict="pr(0,.) conditional(ebmeans)")


def test_tobit_icc_against_r(tobit_fit):
    icc = tobit_fit.icc()
    ref = MARGINS["tobit"]["icc"]
    assert icc["icc"].iloc[0] == pytest.approx(ref["est"], rel=1e-3)
    assert icc["std_err"].iloc[0] == pytest.approx(ref["se"], rel=0.02)


def test_intreg_icc_is_the_latent_formula(intreg_fit):
    var_u = intreg_fit.varcomp["estimate"].iloc[0]
    var_e = _residual(intreg_fit)["estimate"]
    assert intreg_fit.icc()["icc"].iloc[0] == pytest.approx(var_u / (var_u + var_e), rel=1e-10)


@pytest.mark.parametrize("spec, predict, key", [
    ("", None, "median"),  # Stata's default: median time, marginal
    ("", "mean time", "mean_time"),
    ("", "surv", "surv"),
    ("", "hazard", "hazard"),
    (", at(female=(0 1))", "median time fixedonly", "median_fixedonly_at_female"),
])
def test_weibull_margins_against_r(weibull_session, spec, predict, key):
    _margin_close(weibull_session.results.margins(spec, predict=predict),
                  MARGINS["weibull"][key])


# ---- simulation, batch refits and the functional API ------------------------------------------
def test_intreg_simulation_keeps_each_rows_bounds(intreg_fit):
    from mejax.families.censored import EXACT, INTERVAL, LEFT, RIGHT
    glm = intreg_fit.design.glm
    family, given = glm.family, glm.given
    # the fitted response seen through its own bounds gives back the observed rows
    again, valid = family.response_rows(given["lower"], given)
    assert valid.all()
    for key in ("kind", "lower", "upper"):
        np.testing.assert_array_equal(again[key], glm.data[key])
    draws = intreg_fit.simulate(2000, seed=5)
    rows, valid = family.response_rows(draws, given)
    assert valid.all()
    kind0 = glm.data["kind"]
    assert np.all(rows["kind"][:, kind0 == EXACT] == EXACT)
    assert set(np.unique(rows["kind"][:, kind0 == INTERVAL])) == {LEFT, RIGHT, INTERVAL}
    assert set(np.unique(rows["kind"][:, kind0 == LEFT])) == {LEFT, EXACT}
    # each row's share of interval draws against the marginal normal of y*
    xb = intreg_fit.predict("xb").to_numpy()
    total = np.sqrt(_residual(intreg_fit)["estimate"] + intreg_fit.varcomp["estimate"].iloc[0])
    inside = kind0 == INTERVAL
    a, b = given["lower"][inside], given["upper"][inside]
    want = stats.norm.cdf(b, xb[inside], total) - stats.norm.cdf(a, xb[inside], total)
    got = np.mean(rows["kind"][:, inside] == INTERVAL, axis=0)
    assert np.all(np.abs(got - want) < 5 * np.sqrt(want * (1 - want) / 2000) + 1e-3)
    # exact rows: draws are the marginal normal (a KS test on one row)
    first = int(np.argmax(kind0 == EXACT))
    assert stats.kstest(draws[:, first], stats.norm(xb[first], total).cdf).pvalue > 1e-3


def test_tobit_batch_refit(tobit_fit):
    """The observed response refitted in a batch is the single fit; simulated ones converge
    (their rows censored at each row's limits: the simulated share below ll(0) is Φ's)."""
    observed = tobit_fit.design.glm.data["y"]
    y = np.vstack([observed, tobit_fit.simulate(2, seed=11)])
    batch = tobit_fit.refit_batch(y)
    assert batch.frame["converged"].all()
    row = batch.frame.iloc[0]
    assert row["loglik"] == pytest.approx(tobit_fit.loglik, abs=1e-5)
    np.testing.assert_allclose(row[["_cons", "x"]].to_numpy(dtype=float),
                               tobit_fit.fixef[["_cons", "x"]], rtol=1e-4)
    assert np.all(y[1:] >= 0) and np.all(y[1:] <= tobit_fit.design.glm.given["ul"])


def test_tobit_parametric_bootstrap(tobit_fit):
    """Replicates simulated with each row's limits and refitted from the estimates: all
    converge, and their spread is the model's standard errors (40 replicates: within 45%)."""
    boot = tobit_fit.bootstrap(40, seed=3)
    assert boot.n == 40 and boot.n_failed == 0
    table = boot.ci()
    assert table.loc["x", "estimate"] == pytest.approx(tobit_fit.fixef["x"])
    ratio = table.loc[["_cons", "x"], "std_err"].to_numpy() / tobit_fit.fixef_se[["_cons", "x"]]
    assert np.all((ratio > 0.55) & (ratio < 1.45))


def test_functional_api_on_censored_and_survival_fits(tobit_fit, weibull_session):
    from mejax import functional as mf
    tobit = mf.fit_data(tobit_fit)
    loglik = jax.jit(mf.glmm_loglik)  # compiled: op by op, the mode search traces slowly
    assert float(loglik(tobit.params0, tobit)) == pytest.approx(tobit_fit.loglik, abs=1e-8)
    weibull = mf.fit_data(weibull_session.results)
    grad = jax.jit(jax.grad(mf.glmm_loglik))(weibull.params0, weibull)
    assert np.max(np.abs(np.asarray(grad))) < 1e-2  # the optimum


# ---- stset, id(): multiple records per subject -------------------------------------------------
def _split_records(data: pd.DataFrame) -> pd.DataFrame:
    """Each kidney row cut into two or three records of one subject (``rec``), failing on
    its last, shuffled: the same follow-up, so the same likelihood."""
    pieces = []
    for rec, row in enumerate(data.itertuples(index=False)):
        cuts = sorted({round(f * row.time, 6) for f in (0.35, 0.8)[: 1 + rec % 2]} | {row.time})
        for k, cut in enumerate(cuts):
            pieces.append({**row._asdict(), "rec": rec, "time": cut,
                           "infect": row.infect if k == len(cuts) - 1 else 0})
    return pd.DataFrame(pieces).sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def kidney_split():
    return _split_records(KIDNEY)


def _same_fit(split, whole):
    assert split.loglik == pytest.approx(whole.loglik, abs=1e-6)
    np.testing.assert_allclose(split.params, whole.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(split.params_vcov)),
                               np.sqrt(np.diag(whole.params_vcov)), rtol=1e-4)


def test_split_records_give_the_unsplit_weibull_fit(weibull_session, kidney_split):
    s = mejax.StataSession(kidney_split)
    s.run("stset time, failure(infect) id(rec)")
    s.run("mestreg age female || patient:, distribution(weibull)")
    _same_fit(s.results, weibull_session.results)
    text = str(s.results.summary())
    assert f"Number of obs     = {len(kidney_split):>10}" in text
    for piece in ("id: rec", "No. of subjects   =         76", "No. of failures   =         58"):
        assert piece in text
    given = s.results.design.glm.given  # simulated records stay inside their spans
    draws = s.results.simulate(3, seed=0)
    assert np.all(draws > given["entry"]) and np.all(draws <= given["censor_time"])


@pytest.mark.parametrize("name,metric,aux", [
    ("exponential", "ph", []), ("exponential", "aft", []), ("weibull", "aft", [0.3]),
    ("lognormal", "aft", [-0.2]), ("loglogistic", "aft", [-0.4]),
    ("gompertz", "ph", [0.2])])
def test_split_records_sum_to_the_unsplit_rows(kidney_split, name, metric, aux):
    """Each subject's records add up to its unsplit row's log density at any η, so every
    integrator gives the split data the unsplit marginal likelihood (no fit needed)."""
    from mejax.designs import stata_design
    option = " time" if metric == "aft" and name in ("exponential", "weibull") else ""
    command = f"mestreg age female || patient:, distribution({name}){option}"
    _, _, whole = stata_design(command, KIDNEY, st="time, failure(infect)")
    _, _, split = stata_design(command, kidney_split, st="time, failure(infect) id(rec)")
    shift = np.random.default_rng(0).normal(scale=0.7, size=len(KIDNEY))  # any η

    def log_density(design, eta):
        data = {k: jnp.asarray(v) for k, v in design.glm.data.items()}
        return np.asarray(design.glm.family.log_density(jnp.asarray(eta), data,
                                                        jnp.asarray(aux, dtype=float)))

    beta = np.array([0.01, -0.8, -3.0])
    rec = kidney_split.rec.to_numpy()
    got = np.bincount(rec, log_density(split, split.x @ beta + shift[rec]))
    np.testing.assert_allclose(got, log_density(whole, whole.x @ beta + shift), rtol=1e-10)


ST_RECORDS = pd.read_csv(REF / "st_records.csv")
ST_REFS = json.loads((REF / "st_records.json").read_text())


@pytest.mark.parametrize("name,aux", [("exponential", 0), ("weibull", 1), ("lognormal", 1)])
def test_counting_process_loglik_at_r_estimates(name, aux):
    """Time-varying covariate, delayed entry, records after a failure: the spans and
    exclusions of stset, id() enter() and the truncated likelihood, against R's optimum
    (tests/reference/make_refs_st_records.R)."""
    from mejax.designs import stata_design
    with pytest.warns(UserWarning) as caught:
        _, _, design = stata_design(f"mestreg x z || id:, distribution({name})", ST_RECORDS,
                                    st="time, failure(fail) id(id) enter(entry)")
    note = str(caught[0].message)
    assert f"{ST_REFS['excluded_before_entry']} obs. end on or before enter()" in note
    assert f"{ST_REFS['excluded_after_failure']} obs. begin on or after (first) failure" in note
    glm = design.glm
    assert design.nobs == ST_REFS["n_records"]
    rows = {name_: value for _, name_, value in glm.family.header_rows(
        {**glm.given, **glm.data})}
    assert rows["No. of subjects"] == str(ST_REFS["n_subjects"])
    assert rows["No. of failures"] == str(ST_REFS["failures"])
    assert float(rows["Time at risk"]) == pytest.approx(ST_REFS["time_at_risk"], rel=1e-9)
    ref = ST_REFS[name]
    data = {k: jnp.asarray(v) for k, v in glm.data.items()}
    x = jnp.asarray(design.x)

    def total(params):
        return jnp.sum(glm.family.log_density(x @ params[:3], data, params[3:]))

    params = jnp.asarray(ref["coef"][:3 + aux], dtype=float)
    assert float(total(params)) == pytest.approx(ref["loglik"], abs=1e-6)
    assert np.max(np.abs(np.asarray(jax.grad(total)(params)))) < 1e-3


def test_st_records_spans_and_bad_input():
    from mejax.spec.st_records import counting_process
    from mejax.spec.survival import parse_stset
    df = pd.DataFrame({"pid": [1, 1, 1, 2, 2, 3], "t": [2.0, 1.0, 4.0, 3.0, 3.0, 5.0],
                       "d": [0, 0, 1, 0, 1, 1], "b": [1.0, 0.0, 2.0, 0.0, 2.0, 0.0]})
    got = counting_process(df, parse_stset("t, failure(d) id(pid)"))
    np.testing.assert_array_equal(got.data["_t0"], [1.0, 0.0, 2.0, 0.0, np.nan, 0.0])
    assert got.excluded["multiple records at same instant"] == 1
    over = counting_process(df.assign(t=[2.0, 1.0, 4.0, 3.0, 5.0, 5.0]),
                            parse_stset("t, failure(d) id(pid) time0(b)"))
    np.testing.assert_array_equal(over.data["_t0"], [1.0, 0.0, 2.0, 0.0, np.nan, 0.0])
    assert over.excluded["overlapping records"] == 1  # pid 2's (2, 5] begins before 3
    with pytest.raises(DataError, match="missing in 1 record"):
        counting_process(df.assign(pid=[1, 1, None, 2, 2, 3]), parse_stset("t, id(pid)"))
    with pytest.raises(DataError, match="one per subject"):
        counting_process(df.assign(e=[0.5, 0.0, 0.5, 0, 0, 0]),
                         parse_stset("t, id(pid) enter(e)"))
    with pytest.raises(SpecError, match="add id"):
        parse_stset("t, failure(d) time0(b)")
    with pytest.raises(SpecError, match="add id="):
        mejax.mestreg("~ b + (1 | pid)", df, time="t", failure="d", time0="b")
    with pytest.raises(DataError, match="missing in 1 record"):
        mejax.mestreg("~ b + (1 | pid)", df.assign(pid=[1, 1, None, 2, 2, 3]), time="t",
                      failure="d", id="pid")
    st = parse_stset("t, failure(d) id(pid) time0(b)")
    assert (st.id, st.time0) == ("pid", "b") and "(b, t]" in st.describe()
    assert "(t[_n-1], t]" in parse_stset("t, id(pid)").describe()


def test_bare_ll_and_ul_are_the_observed_extremes(tobit_fit):
    """Stata's metobit ll / ul without an argument: the smallest / largest observed y
    (tobit.csv's minimum is 0, so bare ll builds the fitted ll(0) model's rows)."""
    from mejax.designs import stata_design
    tob = pd.read_csv(REF / "tobit.csv")
    _, _, bare = stata_design("metobit y x || g:, ll ul(ulv)", tob)
    fitted = tobit_fit.design.glm
    for key, value in fitted.data.items():
        np.testing.assert_array_equal(bare.glm.data[key], value)
    _, _, both = stata_design("metobit y x || g:, ll ul", tob)
    glm = both.glm
    np.testing.assert_array_equal(glm.given["ul"], tob.y.max())
    rows = glm.family.header_rows({**glm.given, **glm.data})
    y = tob.y.to_numpy()
    assert rows[1] == ("Limits: Lower = 0", "Left-censored", f"{(y == y.min()).sum():,}")
    assert rows[2] == (f"        Upper = {y.max():g}", "Right-censored",
                       f"{(y == y.max()).sum():,}")
    assert make_family("tobit", ll=5.0, ul=True).ll == 5.0  # no false "ll above ul"
    with pytest.raises(SpecError, match="needs an argument"):
        mejax.stata("melogit y x || g:, binomial", tob)


# ---- family-independent post-estimation: reffects, test, lincom, lrtest ------------------------
def _posterior_mean_sd(row_loglik, var_u):
    """Posterior mean and SD of one cluster's random intercept by a dense grid (numpy)."""
    sd = np.sqrt(var_u)
    u = np.linspace(-12 * sd, 12 * sd, 8001)
    log_post = row_loglik(u[:, None]).sum(axis=1) - 0.5 * u**2 / var_u
    w = np.exp(log_post - log_post.max())
    mean = np.sum(w * u) / w.sum()
    return mean, np.sqrt(np.sum(w * (u - mean) ** 2) / w.sum())


def test_weibull_reffects_against_direct_integration(weibull_session):
    fit = weibull_session.results
    re = fit.ranef(se=True)["patient"]
    beta = fit.fixef[["age", "female", "_cons"]].to_numpy()
    ln_p = fit.aux.loc["/ln_p", "Coefficient"]
    p, var_u = np.exp(ln_p), fit.varcomp["estimate"].iloc[0]
    for patient in (1, 4, 21):
        rows = KIDNEY[KIDNEY.patient == patient]
        xb = (rows.age * beta[0] + rows.female * beta[1] + beta[2]).to_numpy()
        t, d = rows.time.to_numpy(), rows.infect.to_numpy()

        def row_loglik(u, xb=xb, t=t, d=d):
            return d * (ln_p + xb + u + (p - 1) * np.log(t)) - np.exp(xb + u) * t**p

        mean, sd = _posterior_mean_sd(row_loglik, var_u)
        assert re.loc[patient, "_cons"] == pytest.approx(mean, abs=2e-4)
        assert re.loc[patient, "se__cons"] == pytest.approx(sd, rel=2e-3)


def test_tobit_reffects_against_direct_integration(tobit_fit):
    tob = pd.read_csv(REF / "tobit.csv")
    re = tobit_fit.ranef(se=True)["g"]
    b = tobit_fit.fixef[["x", "_cons"]].to_numpy()
    sigma = np.sqrt(_residual(tobit_fit)["estimate"])
    var_u = tobit_fit.varcomp["estimate"].iloc[0]
    for g in re.index[:3]:
        rows = tob[tob.g == g]
        y, ul, xb = rows.y.to_numpy(), rows.ulv.to_numpy(), (rows.x * b[0] + b[1]).to_numpy()

        def row_loglik(u, y=y, ul=ul, xb=xb):
            mu = xb + u
            return np.where(y <= 0, stats.norm.logcdf((0 - mu) / sigma),
                            np.where(y >= ul, stats.norm.logsf((ul - mu) / sigma),
                                     stats.norm.logpdf(y, mu, sigma)))

        mean, sd = _posterior_mean_sd(row_loglik, var_u)
        assert re.loc[g, "_cons"] == pytest.approx(mean, abs=2e-4)
        assert re.loc[g, "se__cons"] == pytest.approx(sd, rel=2e-3)


def _wald_by_hand(fit, names, weights=None):
    """(estimate, SE) of w'β, or (chi2, p) of β_names = 0, from the fit's parameter vcov."""
    index = [list(fit.fixef.index).index(n) for n in names]
    b = np.asarray(fit.params)[index]
    v = np.asarray(fit.params_vcov)[np.ix_(index, index)]
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        return w @ b, np.sqrt(w @ v @ w)
    chi2 = float(b @ np.linalg.solve(v, b))
    return chi2, stats.chi2.sf(chi2, len(names))


def test_test_and_lincom_after_mestreg_and_metobit(weibull_session, tobit_fit):
    s = weibull_session
    fit = s.results
    chi2, p = _wald_by_hand(fit, ["age", "female"])
    got = fit.test("age female")
    assert got["chi2"] == pytest.approx(chi2, rel=1e-9) and got["p"] == pytest.approx(p,
                                                                                     rel=1e-7)
    shown = s.run("test age female")
    assert "chi2(  2) =" in shown and "[_t]age = 0" in shown  # Stata's equation name
    est, se = _wald_by_hand(fit, ["age", "female"], [1.0, 2.0])
    got = fit.lincom("age + 2*female")
    assert got["estimate"] == pytest.approx(est, rel=1e-10)
    assert got["std_err"] == pytest.approx(se, rel=1e-9)
    assert got["p"] == pytest.approx(2 * stats.norm.sf(abs(est / se)), rel=1e-7)
    assert got["ci_lower"] == pytest.approx(est - stats.norm.ppf(0.975) * se, rel=1e-9)
    assert f"{est:.6f}"[:7] in s.run("lincom age + 2*female")
    est, se = _wald_by_hand(tobit_fit, ["x", "_cons"], [2.0, 1.0])
    got = tobit_fit.lincom("2*x + _cons")
    assert (got["estimate"], got["std_err"]) == (pytest.approx(est, rel=1e-10),
                                                 pytest.approx(se, rel=1e-9))
    chi2, p = _wald_by_hand(tobit_fit, ["x"])
    assert tobit_fit.test("x")["chi2"] == pytest.approx(chi2, rel=1e-9)


def test_lrtest_after_metobit_and_mestreg(weibull_session, tobit_fit):
    small = mejax.stata("metobit y || g:, ll(0) ul(ulv)", pd.read_csv(REF / "tobit.csv"))
    got = mejax.lrtest(tobit_fit, small)
    chi2 = 2 * (tobit_fit.loglik - small.loglik)
    assert got["df"] == 1 and got["chi2"] == pytest.approx(chi2, rel=1e-12)
    assert got["p"] == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-9)
    s = mejax.StataSession(KIDNEY)  # exponential within Weibull: ln_p = 0
    s.run("stset time, failure(infect)")
    s.run("mestreg age female || patient:, distribution(exponential)")
    weibull = weibull_session.results
    got = mejax.lrtest(weibull, s.results)
    chi2 = 2 * (weibull.loglik - s.results.loglik)
    assert got["df"] == 1 and got["chi2"] == pytest.approx(chi2, rel=1e-12)
    assert got["p"] == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-9)


def test_stset_id_in_a_session_tallies_records_as_stata():
    s = mejax.StataSession(ST_RECORDS)
    text = s.run("stset time, failure(fail) id(id) enter(entry)")
    for piece in (f"{len(ST_RECORDS):>11}  total observations",
                  f"{ST_REFS['excluded_before_entry']:>11}  obs. end on or before enter()",
                  f"{ST_REFS['n_records']:>11}  observations remaining, representing",
                  f"{ST_REFS['n_subjects']:>11}  subjects",
                  f"{ST_REFS['failures']:>11}  failures in single-failure-per-subject data",
                  f"{ST_REFS['time_at_risk']:>11.10g}  total analysis time at risk",
                  "(time[_n-1], time]"):
        assert piece in text
    s.data.loc[0, "id"] = np.nan
    with pytest.raises(Exception, match="missing in 1 record"):
        s.run("stset time, failure(fail) id(id)")
