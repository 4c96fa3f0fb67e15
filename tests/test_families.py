"""Every outcome family in one table, checked against scipy.stats.

For each family: the log density against scipy's log pmf, the closed-form
η-derivatives against autodiff, simulation against the family's own mean,
variance and category probabilities, the population-averaged statistics
against numerical integration, and the row builder's validity mask.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from mejax.errors import DataError, SpecError
from mejax.families import eta_derivatives_autodiff, make_family

CUTS = np.array([-1.0, 0.2, 1.5])
ORDINAL_CATEGORIES = (1.0, 2.0, 3.0, 4.0)


def _nb_mean(mu, alpha):
    return stats.nbinom(1 / alpha, 1 / (1 + alpha * mu))


def _nb_constant(mu, delta):
    return stats.nbinom(mu / delta, 1 / (1 + delta))


def _ordinal_cdf(link):
    return stats.logistic.cdf if link == "logit" else stats.norm.cdf


# name, link, options, aux on the estimation scale, the scipy distribution given η
CASES = {
    "binomial-logit": ("binomial", "logit", {"trials": 5}, [],
                       lambda eta, m: stats.binom(m, special.expit(eta))),
    "binomial-probit": ("binomial", "probit", {"trials": 5}, [],
                        lambda eta, m: stats.binom(m, special.ndtr(eta))),
    "binomial-cloglog": ("binomial", "cloglog", {"trials": 5}, [],
                         lambda eta, m: stats.binom(m, -np.expm1(-np.exp(eta)))),
    "poisson": ("poisson", "log", {}, [], lambda eta, m: stats.poisson(np.exp(eta))),
    "nbinomial-mean": ("nbinomial", "log", {"dispersion": "mean"}, [np.log(0.6)],
                       lambda eta, m: _nb_mean(np.exp(eta), 0.6)),
    "nbinomial-constant": ("nbinomial", "log", {"dispersion": "constant"}, [np.log(1.3)],
                           lambda eta, m: _nb_constant(np.exp(eta), 1.3)),
    "ordinal-logit": ("ordinal", "logit", {}, list(np.r_[CUTS[0], np.log(np.diff(CUTS))]), None),
    "ordinal-probit": ("ordinal", "probit", {}, list(np.r_[CUTS[0], np.log(np.diff(CUTS))]),
                       None),
}


def _family(case):
    name, link, options, aux, _ = CASES[case]
    return make_family(name, link, **options), jnp.asarray(aux, dtype=float)


def _outcomes(case, rng, n):
    family, _ = _family(case)
    if family.pr_outcome == "category":
        return rng.choice(ORDINAL_CATEGORIES, n), np.ones(n)
    if family.pr_outcome == "success":
        return rng.integers(0, 6, n).astype(float), np.full(n, 5.0)
    return rng.integers(0, 12, n).astype(float), np.ones(n)


def _ordinal_logpmf(y, eta, link):
    code = np.searchsorted(ORDINAL_CATEGORIES, y)
    edges = np.r_[-np.inf, CUTS, np.inf]
    cdf = _ordinal_cdf(link)
    return np.log(cdf(edges[code + 1] - eta) - cdf(edges[code] - eta))


@pytest.mark.parametrize("case", list(CASES))
def test_log_density_matches_scipy(case):
    rng = np.random.default_rng(0)
    family, aux = _family(case)
    y, trials = _outcomes(case, rng, 400)
    eta = rng.uniform(-3.0, 1.5, size=400)  # where scipy's pmf keeps its precision
    data, valid = family.response_rows(y, {"trials": trials}, ORDINAL_CATEGORIES)
    assert valid.all()
    got = np.asarray(family.log_density(jnp.asarray(eta), data, aux))
    dist = CASES[case][4]
    want = (_ordinal_logpmf(y, eta, family.link) if dist is None
            else dist(eta, trials).logpmf(y))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", list(CASES))
def test_closed_form_derivatives_equal_autodiff(case):
    rng = np.random.default_rng(1)
    family, aux = _family(case)
    y, trials = _outcomes(case, rng, 300)
    eta = jnp.asarray(rng.normal(scale=3.0, size=300))
    data, _ = family.response_rows(y, {"trials": trials}, ORDINAL_CATEGORIES)
    data = {k: jnp.asarray(v) for k, v in data.items()}
    closed = family.eta_derivatives(eta, data, aux)
    auto = eta_derivatives_autodiff(family, eta, data, aux)
    for a, b in zip(closed, auto):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", list(CASES))
def test_simulation_matches_the_family_moments(case):
    rng = np.random.default_rng(2)
    family, aux = _family(case)
    n = 40000
    eta = np.full(n, 0.4)
    trials = np.full(n, 5.0) if family.pr_outcome == "success" else np.ones(n)
    draws = family.simulate(rng, eta, {"trials": trials}, np.asarray(family.aux_reported(aux)),
                            ORDINAL_CATEGORIES)
    data, valid = family.response_rows(draws, {"trials": trials}, ORDINAL_CATEGORIES)
    assert valid.all()
    if family.pr_outcome == "category":
        probs = np.asarray(family.probability(jnp.asarray(eta[:1]), aux))[0]
        freq = np.array([np.mean(draws == c) for c in ORDINAL_CATEGORIES])
        np.testing.assert_allclose(freq, probs, atol=0.01)
        return
    mu = float(np.asarray(family.mean(jnp.asarray(eta[:1]), jnp.asarray(trials[:1]), aux))[0])
    var = float(family.variance(np.array([mu]), trials[:1], np.asarray(aux))[0])
    assert abs(draws.mean() - mu) < 4 * np.sqrt(var / n)
    assert abs(draws.var() / var - 1) < 0.05


@pytest.mark.parametrize("case", ["binomial-logit", "binomial-probit", "poisson",
                                  "nbinomial-mean", "ordinal-logit"])
def test_population_averaged_statistics_match_numerical_integrals(case):
    family, aux = _family(case)
    eta, var = 0.3, 0.8
    sd = np.sqrt(var)

    def averaged(fn):
        return integrate.quad(lambda b: fn(eta + b) * stats.norm.pdf(b, scale=sd),
                              -12 * sd, 12 * sd, epsabs=1e-12)[0]

    e, v = jnp.asarray([eta]), jnp.asarray([var])
    if family.pr_outcome == "category":
        got = np.asarray(family.probability(e, aux, v))[0]
        want = [averaged(lambda t, k=k: np.exp(_ordinal_logpmf(ORDINAL_CATEGORIES[k], t,
                                                               family.link)))
                for k in range(4)]
        np.testing.assert_allclose(got, want, atol=1e-8)
        return
    dist = CASES[case][4]
    trials = jnp.asarray([5.0]) if family.pr_outcome == "success" else jnp.ones(1)
    got_mean = float(np.asarray(family.mean(e, trials, aux, v))[0])
    want_mean = averaged(lambda t: dist(t, float(trials[0])).mean())
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-7)
    outcome = 2.0 if family.pr_outcome == "count" else None
    got_pr = float(np.asarray(family.probability(e, aux, v, outcome))[0])
    if outcome is None:
        want_pr = averaged(lambda t: dist(t, 1).mean())
    else:
        want_pr = averaged(lambda t: dist(t, 1).pmf(outcome))
    np.testing.assert_allclose(got_pr, want_pr, rtol=1e-7)


def test_row_builder_flags_impossible_outcomes():
    binomial = make_family("binomial", trials=3)
    _, valid = binomial.response_rows(np.array([[0, 3, 4], [1.5, 2, -1]]),
                                       {"trials": np.full(3, 3.0)})
    np.testing.assert_array_equal(valid, [[True, True, False], [False, True, False]])
    counts = make_family("poisson")
    _, valid = counts.response_rows(np.array([0.0, 2.0, -1.0, 0.5]), {})
    np.testing.assert_array_equal(valid, [True, True, False, False])
    ordinal = make_family("ordinal")
    data, valid = ordinal.response_rows(np.array([1.0, 4.0, 5.0]), {},
                                        ORDINAL_CATEGORIES)
    np.testing.assert_array_equal(valid, [True, True, False])
    np.testing.assert_array_equal(data["y_code"][:2], [0, 3])


def test_validation_errors_name_the_problem():
    with pytest.raises(DataError, match="negative"):
        make_family("poisson").validate(np.array([1.0, -1.0]), {}, "y")
    with pytest.raises(DataError, match="does not vary"):
        make_family("binomial").validate(np.zeros(4), {"trials": np.ones(4)}, "y")
    with pytest.raises(DataError, match="single category"):
        make_family("ordinal").validate(np.ones(4), {}, "y")
    with pytest.raises(SpecError, match="is a link"):
        make_family("logit")
    with pytest.raises(SpecError, match="not allowed with the poisson"):
        make_family("poisson", trials=3)
    with pytest.raises(SpecError, match="not available"):
        make_family("poisson", "logit")
