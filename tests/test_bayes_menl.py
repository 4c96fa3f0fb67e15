"""bayes: menl against Stan (rstan NUTS, 4 × 25,000 draws, the same priors and data).

Orange trees' logistic growth with a random asymptote per tree; the reference is
tests/reference/bayes/stan_refs_menl.json from make_refs_bayes_menl.R with
nonlinear_orange.stan (weak proper priors on the fixed parameters and on {var_U},
Stata's default igamma(0.01, 0.01) on {sigma2}). Posterior means, medians and 95%
interval ends within 3 combined MCSEs, SDs within 5% (tests/bayes_reference.py).

One compiled sampler for the module: the Stata session's bayes: prefix runs it,
mejax.bayes reuses it with the same seed, and the post-estimation commands read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from bayes_reference import assert_agrees_with_stan
from scipy import stats

import mejax
from mejax.bayes.nonlinear import nonlinear_layout
from mejax.errors import SpecError
from mejax.menl_api import menl_design

matplotlib.use("Agg")

REFS = json.loads((Path(__file__).parent / "reference" / "bayes" / "stan_refs_menl.json")
                  .read_text())["cases"]["orange_menl"]["params"]
MEAN = "circumference = ({b1}+{U[Tree]})/(1+exp(-(age-{b2})/{b3}))"
MENL = f"menl {MEAN}, initial(b1 200 b2 700 b3 350)"
PRIORS = {"{b1}": "normal(200, 10000)", "{b2}": "normal(700, 40000)",
          "{b3}": "normal(350, 10000)", "{var_U}": "igamma(2, 1000)"}
PREFIX = ("bayes, " + " ".join(f"prior({k}, {v})" for k, v in PRIORS.items())
          + " nchains(4) mcmcsize(1000) burnin(500) rseed(1)")


@pytest.fixture(scope="module")
def orange():
    return mejax.datasets.load("Orange")


@pytest.fixture(scope="module")
def session(orange):
    s = mejax.StataSession(orange, echo=False)
    s.output = s.run(f"{PREFIX}: {MENL}")
    return s


@pytest.fixture(scope="module")
def fit(session):
    return session.results


def test_names_match_menl_and_stan(fit):
    assert list(fit.table.index) == list(REFS)


def test_posterior_agrees_with_stan(fit):
    assert_agrees_with_stan(fit, REFS)


def test_converged_without_divergences(fit):
    assert fit.max_rhat < 1.01
    assert fit.table["ess_bulk"].min() > 400
    assert fit.divergent == 0 and fit.notes == []


def test_stata_output(session):
    text = str(session.output)
    assert "Bayesian multilevel nonlinear regression" in text
    assert re.search(r"\{var_U\} ~ igamma\(2,1000\)", text)
    assert re.search(r"\{sigma2\} ~ igamma\(\.01,\.01\)|\{sigma2\} ~ igamma\(0?\.01,0?\.01\)",
                     text)
    assert re.search(r"Group variable: Tree +Number of groups += +5", text)
    assert re.search(r"Number of obs += +35", text)
    for row in ("b1 |", "var_U |", "sigma2 |"):
        assert row in text


def test_python_api_same_draws(fit, orange):
    again = mejax.bayes(MENL, orange, priors=PRIORS, chains=4, draws=1000, warmup=500, seed=1)
    np.testing.assert_allclose(again.draws, fit.draws, rtol=1e-6)


def test_post_estimation(session, fit):
    summary = session.run("bayesstats summary {b1} {var_U}")
    assert "b1" in summary and "var_U" in summary and "b2 |" not in summary
    assert "Efficiency" in session.run("bayesstats ess")
    assert "Gelman-Rubin" in session.run("bayesstats grubin")
    assert "DIC" in session.run("bayesstats ic")
    test = session.run("bayestest interval ({b1} > 150)")
    prob = float(np.mean(fit.parameter("b1") > 150))
    assert f"{prob:.4f}".lstrip("0")[:4] in test
    figure = fit.bayesgraph("trace", ["b1"])
    assert figure is not None
    idata = fit.to_arviz()
    assert idata.posterior["U"].shape == (4, 1000, 5)
    assert idata.log_likelihood["y"].shape == (4, 1000, 35)
    y_rep = fit.posterior_predict(n=50)
    assert y_rep.shape == (50, 35) and np.all(np.isfinite(y_rep))


def test_effects_are_the_trees_asymptote_shifts(fit):
    """The sampled effects enter the mean as menl's ML fit has them: same ordering of trees."""
    b = fit.effects["U"].mean(axis=(0, 1))[:, 0]
    ml = mejax.menl(MENL, mejax.datasets.load("Orange")).ranef()["Tree"]["U"].to_numpy()
    assert np.corrcoef(b, ml)[0, 1] > 0.99


def test_pointwise_loglik_is_scipy_normal_at_the_numpy_mean(fit, orange):
    """log p(y_i | b, U, σ²) of one draw: the logistic mean in numpy, scipy's normal density."""
    chain, draw = 2, 417
    b1, b2, b3, _, sigma2 = fit.draws[chain, draw]
    tree = np.unique(orange["Tree"].astype(str), return_inverse=True)[1]
    asym = b1 + fit.effects["U"][chain, draw, tree, 0]
    mu = asym / (1 + np.exp(-(orange["age"].to_numpy() - b2) / b3))
    expected = stats.norm.logpdf(orange["circumference"], mu, np.sqrt(sigma2))
    np.testing.assert_allclose(fit.pointwise_loglik[chain, draw], expected, rtol=1e-9)


# ---- bad input: refused before anything is sampled ------------------------------------------
def test_prior_on_unknown_parameter_lists_the_names(orange):
    with pytest.raises(SpecError, match=r"\{b4\}.*\{b1\}, \{b2\}, \{b3\}, \{var_U\}, \{sigma2\}"):
        mejax.bayes(MENL, orange, priors={"{b4}": "normal(0, 1)"})


@pytest.mark.parametrize("option, word", [("resvariance(power _yhat)", "resvariance"),
                                          ("rescorrelation(ar 1)", "rescorrelation"),
                                          ("reml", "reml"),
                                          ("intmethod(laplace)", "intmethod")])
def test_unsupported_menl_options_refused(orange, option, word):
    with pytest.raises(SpecError, match=rf"bayes: menl does not take {word}"):
        mejax.stata(f"bayes: {MENL} {option}", orange)


def test_initial_names_a_fixed_parameter(orange):
    with pytest.raises(SpecError, match=r"initial\(\): \{b9\} is not a fixed parameter"):
        mejax.bayes(f"bayes, initial({{b9}} 1): {MENL}", orange, priors=PRIORS)


def test_covariance_names(orange):
    """Two effects of one level: {var_U0} {var_U1}, or {Sigma_U,m} when unstructured."""
    text = ("menl circumference = ({b1}+{U0[Tree]})/(1+exp(-(age-{b2})/({b3}+{U1[Tree]}))), "
            "initial(b1 200 b2 700 b3 350)")
    _, design, _ = menl_design(text, orange)
    assert nonlinear_layout(design).scalar_names() == ["b1", "b2", "b3", "var_U0", "var_U1",
                                                       "sigma2"]
    _, design, _ = menl_design(text + " covariance(U0 U1, unstructured)", orange)
    layout = nonlinear_layout(design, {"{Sigma_U,m}": "iwishart(3, I(2))"})
    assert layout.scalar_names()[3:6] == ["Sigma_U_1_1", "Sigma_U_2_1", "Sigma_U_2_2"]
    assert layout.prior_of("Sigma_U").text().startswith("iwishart(3")
