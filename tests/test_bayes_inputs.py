"""mejax.bayes without sampling: priors against scipy, the bayes prefix, parameter names,
the log posterior against a dense computation written with scipy, and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import mejax
from mejax.bayes.layout import build_layout
from mejax.bayes.model import build_model, start_position
from mejax.bayes.posterior import log_posterior, reported
from mejax.bayes.prefix import parse_prefix
from mejax.bayes.priors import parse_prior
from mejax.spec.design import build_design
from mejax.spec.stata import parse_stata

X = np.array([0.3, 1.7, 4.2])


@pytest.mark.parametrize("text, scipy_dist", [
    ("normal(1, 4)", stats.norm(1, 2)),
    ("t(1, 4, 3)", stats.t(3, 1, 2)),
    ("cauchy(1, 2)", stats.cauchy(1, 2)),
    ("uniform(0, 5)", stats.uniform(0, 5)),
    ("igamma(0.01, 0.01)", stats.invgamma(0.01, scale=0.01)),
    ("igamma(2, 3)", stats.invgamma(2, scale=3)),
    ("gamma(2, 3)", stats.gamma(2, scale=3)),
    ("exponential(2)", stats.expon(scale=2)),
    ("lognormal(0.5, 0.25)", stats.lognorm(s=0.5, scale=np.exp(0.5))),
])
def test_scalar_priors_match_scipy(text, scipy_dist):
    prior = parse_prior(text)
    np.testing.assert_allclose(np.asarray(prior.log_density(jnp.asarray(X))),
                               scipy_dist.logpdf(X), rtol=1e-10)


def test_iwishart_matches_scipy():
    prior = parse_prior("iwishart(4, I(2))")
    sigma = np.array([[2.0, 0.3], [0.3, 0.5]])
    np.testing.assert_allclose(float(prior.log_density(jnp.asarray(sigma))),
                               stats.invwishart(4, np.eye(2)).logpdf(sigma), rtol=1e-10)


@pytest.mark.parametrize("text, message", [
    ("normal(0, -1)", "variance must be a positive"),
    ("igamma(0, 1)", "shape must be a positive"),
    ("uniform(2, 1)", "lower bound must be below"),
    ("iwishart(1, I(2))", "degrees of freedom must exceed"),
    ("normal(0)", "takes 2 arguments"),
    ("beta(1, 1)", "unknown prior distribution 'beta'"),
    ("normal(a, 1)", "must be numbers"),
])
def test_invalid_prior_arguments(text, message):
    with pytest.raises(mejax.SpecError, match=message):
        parse_prior(text)


def test_prefix_options():
    p = parse_prefix("bayes, prior({y:x1 x2}, normal(0, 100)) prior({var_U0}, igamma(1, 1)) "
                     "mcmcsize(2000) burnin(500) thinning(2) rseed(7) nchains(3) "
                     "normalprior(10) initial({y:x1} 0.5): melogit y x1 x2 || id:")
    assert p.command == "melogit y x1 x2 || id:"
    assert p.settings == {"draws": 2000, "warmup": 500, "thinning": 2, "seed": 7, "chains": 3}
    assert p.priors == {"{y:x1 x2}": "normal(0, 100)", "{var_U0}": "igamma(1, 1)"}
    assert p.default_normal_sd == 10 and p.initial == {"{y:x1}": 0.5}


@pytest.mark.parametrize("line, message", [
    ("bayes mixed y x || id:", "needs a colon"),
    ("bayes: regress y x", "cannot wrap 'regress'"),
    ("bayes, mcmcs(10) foo(1): mixed y x || id:", "unknown bayes option 'foo"),
    ("bayes, prior(normal(0,1)): mixed y x || id:", "must name parameters in braces"),
    ("bayes, nchains(2.5): mixed y x || id:", "must be a whole number"),
])
def test_prefix_errors(line, message):
    with pytest.raises(mejax.SpecError, match=message):
        parse_prefix(line)


@pytest.fixture(scope="module")
def sleep():
    return mejax.datasets.load("sleepstudy")


def _design(command, data):
    return build_design(parse_stata(command), data)


def test_stata_names_and_default_priors(sleep):
    design = _design("mixed Reaction Days || Subject: Days, covariance(unstructured)", sleep)
    layout = build_layout(design, gaussian=True)
    assert layout.scalar_names() == ["Reaction:Days", "Reaction:_cons", "Sigma_U_1_1",
                                     "Sigma_U_2_1", "Sigma_U_2_2", "e.Reaction:sigma2"]
    priors = dict(layout.priors)
    assert priors["Reaction:Days"].text() == "normal(0,10000)"
    assert priors["Sigma_U"].text() == "iwishart(3,I(2))"
    assert priors["e.Reaction:sigma2"].text() == "igamma(0.01,0.01)"
    nested = build_layout(_design("mixed Reaction Days || Subject: Days || Days:", sleep),
                          gaussian=True)
    assert nested.scalar_names()[2:] == ["var_U0", "var_U1", "var_UU0", "e.Reaction:sigma2"]


@pytest.mark.parametrize("priors, message", [
    ({"{Reaction:age}": "normal(0, 1)"}, r"no such parameter.*\{Reaction:Days\}, "
                                         r"\{Reaction:_cons\}, \{var_U0\}"),
    ({"{var_U0}": "jeffreys"}, "makes the posterior improper"),
    ({"{Reaction:Days}": "igamma(1, 1)"}, "cannot be put on"),
    ({"{var_U0}": "iwishart(3, I(2))"}, "cannot be put on"),
])
def test_bad_priors(sleep, priors, message):
    with pytest.raises(mejax.SpecError, match=message):
        mejax.bayes("mixed Reaction Days || Subject:", sleep, priors=priors)


def test_bad_calls(sleep):
    with pytest.raises(mejax.SpecError, match="cannot wrap 'regress'"):
        mejax.bayes("regress Reaction Days", sleep)
    with pytest.raises(mejax.SpecError, match="chains=0"):
        mejax.bayes("mixed Reaction Days || Subject:", sleep, chains=0)
    with pytest.raises(mejax.DataError, match="not found"):
        mejax.bayes("mixed Reaction nothere || Subject:", sleep)
    with pytest.raises(mejax.SpecError, match="cannot wrap 'bayesstats'"):
        mejax.stata("bayes: bayesstats ess", sleep)


def test_log_posterior_against_dense_scipy(sleep):
    """Unstructured intercept and slope: the joint density written with scipy and dense Z."""
    design = _design("mixed Reaction Days || Subject: Days, covariance(unstructured)", sleep)
    model, arrays = build_model(design, {"{Reaction:Days}": "t(0, 25, 4)"})
    rng = np.random.default_rng(3)
    start = start_position(design, model, arrays)
    position = jax.tree.map(lambda a: np.asarray(a) + rng.normal(0, 0.3, np.shape(a)), start)
    got = float(log_posterior(jax.tree.map(jnp.asarray, position), jax.tree.map(
        jnp.asarray, arrays), model))

    beta, free, u = position["beta"], position["cov"][0], position["u"][0]
    lower = np.array([[np.exp(free[0]), 0.0], [free[1], np.exp(free[2])]])
    sigma = lower @ lower.T
    b = u @ lower.T  # (subjects, [intercept, Days])
    codes = design.re_terms[0].codes
    days = sleep["Days"].to_numpy(float)
    eta = design.x @ beta + b[codes, 0] + b[codes, 1] * days
    s2 = np.exp(position["log_sigma2"][0])
    want = stats.norm.logpdf(design.y, eta, np.sqrt(s2)).sum()
    want += stats.t(4, 0, 5).logpdf(beta[0]) + stats.norm(0, 100).logpdf(beta[1])
    want += stats.invwishart(3, np.eye(2)).logpdf(sigma)
    want += stats.invgamma(0.01, scale=0.01).logpdf(s2) + np.log(s2)  # log-scale Jacobian
    want += stats.norm.logpdf(u).sum()
    # Jacobian of (l11, l21, l22) -> (s11, s21, s22), with l11 = e^a, l22 = e^c:
    # |d vech Σ / d vech L| = 4 l11^2 l22, times l11 l22 for the log-diagonal
    want += np.log(4 * lower[0, 0] ** 2 * lower[1, 1]) + free[0] + free[2]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    rep = np.asarray(reported(jax.tree.map(jnp.asarray, position), model))
    np.testing.assert_allclose(rep[2:5], [sigma[0, 0], sigma[1, 0], sigma[1, 1]], rtol=1e-12)
