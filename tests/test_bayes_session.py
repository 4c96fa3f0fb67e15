"""bayes: in Stata sessions and do-files, bayesstats, bayestest, bayesgraph, predictive draws.

The model and settings are test_bayes_stan.py's cbpp case, so the compiled sampler is
shared (in one process, or from the persistent compilation cache).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import mejax

matplotlib.use("Agg")

COMMAND = "melogit incidence i.period || herd:, binomial(size)"
PREFIX = "bayes, nchains(4) mcmcsize(500) burnin(500) rseed(1)"


@pytest.fixture(scope="module")
def session():
    s = mejax.StataSession(mejax.datasets.load("cbpp"), echo=False)
    s.output = s.run(f"{PREFIX}: {COMMAND}")
    return s


def test_prefix_is_the_python_call(session):
    fit = mejax.bayes(COMMAND, session.data, chains=4, draws=500, warmup=500, seed=1)
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
