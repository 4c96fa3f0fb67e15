"""mejax.bayes against Stan (rstan NUTS, 4 × 25,000 draws, the same priors and data).

References: tests/reference/bayes/stan_refs.json from make_refs_bayes.R with
glmm_independent.stan (Stata's default priors: normal(0, 10000) coefficients,
igamma(0.01, 0.01) variances). Posterior means, medians and 95% interval ends
must agree within 3 Monte Carlo standard errors (both samplers' MCSEs
combined); posterior SDs within 5%, or 3 combined MCSEs of the SD where this
short run's own MCSE is larger than that.

The cbpp case runs through a Stata session's ``bayes:`` prefix, and the session
commands (bayesstats, bayestest, bayesgraph, do-files) are tested on it here, so
the compiled sampler is shared (test modules do not share compiled programs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from bayes_reference import assert_agrees_with_stan
from scipy import stats
from scipy.special import expit, logsumexp

import mejax

matplotlib.use("Agg")

REFERENCE = Path(__file__).parent / "reference"
REFS = json.loads((REFERENCE / "bayes" / "stan_refs.json").read_text())
# bayes: metobit and bayes: mestreg (make_refs_bayes_censored.R, 4 × 10,000 Stan draws)
REFS["cases"].update(json.loads((REFERENCE / "bayes" / "stan_refs_censored.json").read_text())[
    "cases"])
CASES = {
    "sleepstudy_mixed": ("mixed Reaction Days || Subject: Days", "sleepstudy"),
    "cbpp_melogit": ("melogit incidence i.period || herd:, binomial(size)", "cbpp"),
    "epilepsy_mepoisson": ("mepoisson y lbase trt lbase_trt lage V4 || subject:", "epilepsy"),
    "tobit_metobit": ("metobit y x || g:, ll(0) ul(ulv)", "tobit"),
    "kidney_mestreg": ("mestreg age female || patient:, distribution(weibull)", "kidney"),
}


def _data(name: str) -> pd.DataFrame:
    data = CASES[name][1]
    if data in ("tobit", "kidney"):
        return pd.read_csv(REFERENCE / "censored" / f"{data}.csv")
    return mejax.datasets.load(data)
SETTINGS = {"chains": 4, "draws": 500, "warmup": 500, "seed": 2}
PREFIX = "bayes, nchains(4) mcmcsize(500) burnin(500) rseed(1)"
# the survival model's variance and the epilepsy intercept mix more slowly: twice the draws
# for bulk ESS > 400 and R-hat < 1.01 (at 500 draws R-hat of {y:_cons} is 1.005-1.014 by seed)
PREFIX_LONG = "bayes, nchains(4) mcmcsize(1000) burnin(500) rseed(1)"
# epilepsy at rseed(2): at rseed(1) the sampler's stream puts its {y:lbase} 2.5% quantile 3.6
# combined MCSEs from Stan's (seeds 2 and 3 agree everywhere; short-run quantile MCSEs are
# rough, and a 4 × 10,000 run of kidney agrees with Stan within 1.6 MCSE throughout)
PREFIX_EPILEPSY = PREFIX_LONG.replace("rseed(1)", "rseed(2)")


@pytest.fixture(scope="module")
def session():
    """The cbpp case run through a Stata session's bayes: prefix (its tests are below)."""
    s = mejax.StataSession(mejax.datasets.load("cbpp"), echo=False)
    s.output = s.run(f"{PREFIX}: {CASES['cbpp_melogit'][0]}")
    return s


@pytest.fixture(scope="module", params=list(CASES))
def case(request, session):
    command, data = CASES[request.param]
    if request.param == "cbpp_melogit":
        return request.param, session.results
    if request.param == "epilepsy_mepoisson":  # mejax.stata with the prefix
        return request.param, mejax.stata(f"{PREFIX_EPILEPSY}: {command}",
                                          _data(request.param))
    if request.param == "kidney_mestreg":  # stset, then the prefix, in a session
        s = mejax.StataSession(_data(request.param), echo=False)
        s.run("stset time, failure(infect)")
        s.run(f"{PREFIX_LONG}: {command}")
        return request.param, s.results
    return request.param, mejax.bayes(command, _data(request.param), **SETTINGS)


def test_names_match_stata(case):
    name, fit = case
    assert list(fit.table.index) == list(REFS["cases"][name]["params"])


def test_posterior_agrees_with_stan(case):
    name, fit = case
    assert_agrees_with_stan(fit, REFS["cases"][name]["params"])


def test_converged_without_divergences(case):
    _, fit = case
    assert fit.max_rhat < 1.01
    assert fit.table["ess_bulk"].min() > 400
    assert fit.divergent == 0
    assert fit.notes == []


def test_draws_arviz_and_summary(case):
    name, fit = case
    idata = fit.to_arviz()
    first = fit.names[0]
    draws = fit.settings.draws
    assert idata.posterior[first].shape == (4, draws)
    np.testing.assert_array_equal(idata.posterior[first].values, fit.parameter(first))
    assert "U0" in idata.posterior and "diverging" in idata.sample_stats
    text = str(fit.summary())
    assert "Equal-tailed" in text and re.search(rf"MCMC sample size +=  +{4 * draws:,}", text)
    assert "Max Gelman-Rubin Rc" in text
    frame = fit.draws_frame()
    assert frame.shape == (4 * draws, 2 + len(fit.names))


def _row_loglik_scipy(name, fit, chain, draw):
    """log p(y_i | θ, b) of one draw, from the design's columns and scipy.stats."""
    arrays, layout = fit.arrays, fit.model.layout
    values = fit.draws[chain, draw]
    eta = arrays["x"] @ values[: layout.p] + arrays["offset"]
    for term, z, codes in zip(layout.terms, arrays["z"], arrays["codes"]):
        b = fit.effects[term.stub][chain, draw]
        eta = eta + np.sum(np.asarray(z) * b[np.asarray(codes)], axis=-1)
    data = _data(name)
    if name == "sleepstudy_mixed":
        return stats.norm.logpdf(data["Reaction"], eta, np.sqrt(fit.parameter(
            "e.Reaction:sigma2")[chain, draw]))
    if name == "cbpp_melogit":
        return stats.binom.logpmf(data["incidence"], data["size"], expit(eta))
    if name == "tobit_metobit":
        y, upper = data["y"].to_numpy(), data["ulv"].to_numpy()
        normal = stats.norm(eta, np.sqrt(fit.parameter("e.y:sigma2")[chain, draw]))
        return np.where(y <= 0, normal.logcdf(0.0),
                        np.where(y >= upper, normal.logsf(upper), normal.logpdf(y)))
    if name == "kidney_mestreg":  # Weibull PH: d·log h(t) + log S(t)
        p, t = np.exp(fit.parameter("ln_p")[chain, draw]), data["time"].to_numpy()
        return (data["infect"] * (np.log(p) + eta + (p - 1) * np.log(t))
                - np.exp(eta) * t**p)
    return stats.poisson.logpmf(data["y"], np.exp(eta))


def test_pointwise_loglik_waic_and_loo(case):
    name, fit = case
    ll = fit.pointwise_loglik
    assert ll.shape == (4, fit.settings.draws, fit.arrays["x"].shape[0])
    np.testing.assert_allclose(ll[2, 7], _row_loglik_scipy(name, fit, 2, 7), rtol=1e-9)
    np.testing.assert_allclose(ll.sum(axis=-1), fit.records["loglik"], rtol=1e-9)
    flat = ll.reshape(-1, ll.shape[-1])
    lppd = np.sum(logsumexp(flat, axis=0) - np.log(flat.shape[0]))
    waic = fit.waic()
    assert waic.elpd_waic == pytest.approx(lppd - np.sum(np.var(flat, axis=0)))
    loo = fit.loo()
    assert loo.n_data_points == flat.shape[1] and len(loo.pareto_k) == flat.shape[1]
    # PSIS-LOO and WAIC estimate the same elpd; they differ by much less than its SE here
    assert abs(loo.elpd_loo - waic.elpd_waic) < loo.se


# ---- hyperparameters sampled with the random effects integrated out ---------------------
@pytest.fixture(scope="module", params=[("sleepstudy_mixed", "laplace"),
                                        ("cbpp_melogit", "mvaghq")])
def integrated(request):
    """Laplace is exact for the linear model; 7-point quadrature all but exact for cbpp."""
    name, method = request.param
    command, data = CASES[name]
    settings = SETTINGS if name == "sleepstudy_mixed" else {**SETTINGS, "draws": 1000,
                                                             "seed": 3}
    return name, mejax.bayes(command, _data(name), integrate=method, **settings)


def test_integrated_posterior_agrees_with_stan(integrated):
    name, fit = integrated
    ref = REFS["cases"][name]["params"]
    assert list(fit.table.index) == list(ref)
    assert_agrees_with_stan(fit, ref)
    assert fit.max_rhat < 1.01 and fit.table["ess_bulk"].min() > 400 and fit.divergent == 0
    assert fit.records["position"]["u"] == () and fit.effects == {}


def test_integrated_pointwise_is_per_cluster(integrated):
    name, fit = integrated
    n_clusters = _data(name)[{"sleepstudy_mixed": "Subject", "cbpp_melogit": "herd"}[name]]
    ll = fit.pointwise_loglik
    assert ll.shape == (4, fit.settings.draws, n_clusters.nunique())
    np.testing.assert_allclose(ll.sum(axis=-1), fit.records["loglik"], rtol=1e-9)
    assert fit.loo().n_data_points == n_clusters.nunique()
    with pytest.raises(mejax.SpecError, match="integrated out"):
        fit.posterior_predict(5)


def test_integrate_errors():
    data = mejax.datasets.load("sleepstudy")
    with pytest.raises(mejax.SpecError, match="not an integration method"):
        mejax.bayes("mixed Reaction Days || Subject:", data, integrate="simpson")
    with pytest.raises(mejax.SpecError, match="intpoints"):
        mejax.bayes("mixed Reaction Days || Subject:", data, integrate="mvaghq", intpoints=0)


# ---- the Stata session on the cbpp fit ---------------------------------------------------
COMMAND = CASES["cbpp_melogit"][0]


def test_prefix_is_the_python_call(session):
    fit = mejax.bayes(COMMAND, session.data, **{**SETTINGS, "seed": 1})  # PREFIX's rseed(1)
    np.testing.assert_array_equal(session.results.draws, fit.draws)
    assert "Bayesian multilevel logistic regression" in session.output
    assert "{incidence:2.period} ~ normal(0,10000)" in session.output


def test_bayesstats(session):
    ess = session.run("bayesstats ess")
    assert "Efficiency summaries" in ess and "Corr. time" in ess
    summary = session.run("bayesstats summary {incidence:_cons} {var_U0}")
    assert "_cons" in summary and "var_U0" in summary and "2.period" not in summary
    assert "Rc" in session.run("bayesstats grubin")
    ic = session.results.ic()
    deviance = -2 * session.results.records["loglik"].mean()
    assert 0 < ic["pD"].iloc[0] < 5 + 15 and np.isfinite(ic["log(ML)"].iloc[0])
    assert ic["DIC"].iloc[0] == pytest.approx(deviance + ic["pD"].iloc[0])
    assert "DIC" in session.run("bayesstats ic")


def test_bayestest_interval(session):
    draws = session.results.parameter("{incidence:2.period}")
    out = session.run("bayestest interval ({incidence:2.period} < -0.5)")
    assert f"{np.mean(draws < -0.5):.4f}"[1:5] in out
    frame = session.results.test_interval("{var_U0} > 0.2 & {var_U0} < 1")
    var = session.results.parameter("var_U0")
    assert frame["Mean"].iloc[0] == pytest.approx(np.mean((var > 0.2) & (var < 1)))
    assert "prob1" in session.run("bayestest interval {var_U0}, lower(0.2) upper(1)")
    session.run("estimates store m1")
    out = session.run("bayestest model m1 m1")
    assert out.count(".5") >= 2


def test_bayesgraph(session):
    before = len(session.figures)
    session.run("bayesgraph diagnostics {var_U0}")
    session.run("bayesgraph matrix {incidence:_cons} {var_U0}")
    session.run("bayesgraph trace {incidence:}")
    assert len(session.figures) == before + 3
    assert len(session.figures[-1].axes) >= 4


def test_bayesgraph_graph_options(session, tmp_path):
    """bayesgraph takes Stata's title() and saving() as marginsplot does (mejax.graph)."""
    import matplotlib.pyplot as plt

    path = tmp_path / "trace.png"
    out = session.run(f'bayesgraph trace {{var_U0}}, title("Chains") saving({path})')
    assert "saved" in out and path.read_bytes().startswith(b"\x89PNG")
    assert session.figures[-1] is plt.gcf()
    assert session.figures[-1].get_suptitle() == "Chains"
    session.run(f"graph export {tmp_path / 'trace.pdf'}")
    assert (tmp_path / "trace.pdf").read_bytes().startswith(b"%PDF")
    plt.close("all")


def test_bad_session_commands(session):
    with pytest.raises(mejax.SpecError, match="no parameter"):
        session.run("bayesstats summary {incidence:nothere}")
    with pytest.raises(mejax.SpecError, match="use summary, ess, grubin or ic"):
        session.run("bayesstats bogus")
    with pytest.raises(mejax.SpecError, match="cannot read the condition"):
        session.results.test_interval("{var_U0} >")


def test_posterior_predictive(session):
    yrep = session.results.posterior_predict(200, seed=2)
    y = session.data["incidence"].to_numpy(float)
    assert yrep.shape == (200, y.size)
    assert np.all(yrep <= session.data["size"].to_numpy()[None])
    assert abs(yrep.mean() - y.mean()) < 0.2 * y.mean()


def test_do_file(session):
    s = mejax.StataSession(session.data, echo=False)
    log = s.run_do(f"{PREFIX}: {COMMAND}\nbayesstats ess\nbayestest interval "
                   "({var_U0} > 0.1)")
    assert "Efficiency summaries" in log and "Interval tests" in log
    np.testing.assert_array_equal(s.results.draws, session.results.draws)


def test_survival_and_censoring_header(case):
    """bayes: mestreg opens with mestreg's stset lines; the family's counts sit under the obs."""
    name, fit = case
    lines = str(fit.summary()).splitlines()
    if name == "kidney_mestreg":
        assert lines[:2] == ["        failure _d: infect", "  analysis time _t: time"]
        failures = int(fit.design.glm.data["failure"].sum())
        assert any(re.search(rf"No\. of failures +=  +{failures}$", x) for x in lines)
    elif name == "tobit_metobit":
        assert any(re.search(r"Uncensored +=", x) for x in lines)
    else:
        assert lines[0] == "Model summary"
