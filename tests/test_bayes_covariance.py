"""bayes: mixed with structured random-effects covariances, against Stan.

References: tests/reference/bayes/stan_refs_covariance.json from
make_refs_bayes_covariance.R with lmm_covariance.stan (4 × 10,000 Stan draws):
- covariance(exchangeable) on the machines data, {var_U} igamma(0.01, 0.01) and
  the common correlation {cov_U}/{var_U} uniform on (−1/2, 1);
- covariance(unstructured) on sleepstudy with prior({Sigma_U,m}, lkj(2)): LKJ(2)
  on the correlation and igamma(0.01, 0.01) on each variance.
Also without sampling: the LKJ normalising constant, the exchangeable map into
the maximum-likelihood engine (integrate=) against a dense marginal density,
and bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from bayes_reference import assert_agrees_with_stan
from scipy import integrate, stats

import mejax
from mejax.bayes.model import build_model, start_position
from mejax.bayes.posterior import free_from_reported, log_likelihood, reported, term_factor
from mejax.bayes.priors import LKJ, parse_prior
from mejax.designs import stata_design

REFERENCE = Path(__file__).parent / "reference"
REFS = json.loads((REFERENCE / "bayes" / "stan_refs_covariance.json").read_text())["cases"]
EXCHANGEABLE = "mixed score i.machine_code || Worker: mA mB mC, noconstant cov(exchangeable)"
LKJ_PREFIX = "bayes, prior({Sigma_U,m}, lkj(2)) nchains(4) mcmcsize(1000) burnin(500) rseed(1)"
LKJ_COMMAND = "mixed Reaction Days || Subject: Days, covariance(unstructured)"


def _machines() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "machines.csv")


@pytest.fixture(scope="module", params=["machines_exchangeable", "sleepstudy_lkj"])
def case(request):
    if request.param == "machines_exchangeable":
        fit = mejax.bayes(EXCHANGEABLE, _machines(), chains=4, draws=1000, warmup=500, seed=1,
                          target_accept=0.95, progress=False)
    else:
        fit = mejax.bayes(f"{LKJ_PREFIX}: {LKJ_COMMAND}", mejax.datasets.load("sleepstudy"),
                          target_accept=0.95, progress=False)
    return request.param, fit


def test_names_match_stata(case):
    name, fit = case
    assert list(fit.table.index) == list(REFS[name]["params"])


def test_posterior_agrees_with_stan(case):
    name, fit = case
    assert_agrees_with_stan(fit, REFS[name]["params"])


def test_converged(case):
    _, fit = case
    assert fit.max_rhat < 1.01
    assert fit.table["ess_bulk"].min() > 400
    assert fit.divergent == 0


def test_exchangeable_header_and_priors(case):
    name, fit = case
    text = str(fit.summary())
    if name == "machines_exchangeable":
        assert "var_U |" in text and "cov_U |" in text
    else:
        assert "{Sigma_U,m} ~ lkj(2,igamma(0.01,0.01))" in text


def test_lkj_normaliser():
    """log ∫ det(R)^(η−1) dR: quadrature for d = 2, the volume π²/2 of 3×3 correlations."""
    for eta in (0.7, 2.0):
        want = np.log(integrate.quad(lambda r, e=eta: (1 - r * r) ** (e - 1), -1, 1)[0])
        np.testing.assert_allclose(LKJ(eta).log_normaliser(2), want, rtol=1e-12)
    np.testing.assert_allclose(LKJ(1.0).log_normaliser(3), np.log(np.pi**2 / 2), rtol=1e-12)


def test_lkj_density_on_sigma():
    """The density on Σ: LKJ(R) × igamma on the variances × the Jacobian Π Σ_ii^(-(d−1)/2)."""
    prior = parse_prior("lkj(2, igamma(1, 2))")
    sigma = np.array([[2.0, 0.6], [0.6, 0.5]])
    rho = 0.6 / np.sqrt(1.0)
    want = (np.log(1 - rho**2) - LKJ(2.0).log_normaliser(2)
            + stats.invgamma(1, scale=2).logpdf([2.0, 0.5]).sum() - 0.5 * np.log(2.0 * 0.5))
    np.testing.assert_allclose(float(prior.log_density(jnp.asarray(sigma))), want, rtol=1e-12)


def test_exchangeable_marginal_matches_dense_gaussian():
    """integrate="laplace" maps (var, ρ) into the engine's exchangeable θ: the exact marginal."""
    data = _machines()
    _, _, design = stata_design(EXCHANGEABLE, data, linear_family=True)
    model, arrays = build_model(design, integrate="laplace")
    term = model.layout.terms[0]
    start = start_position(design, model, arrays)
    var, cov, s2 = 30.0, 12.0, 1.5
    position = {**start, "beta": np.array([8.0, 14.0, 52.0]),
                "cov": (free_from_reported(np.array([var, cov]), term),),
                "aux": np.array([0.5 * np.log(s2)])}
    position = jax.tree.map(jnp.asarray, position)
    got = float(log_likelihood(position, jax.tree.map(jnp.asarray, arrays), model))
    np.testing.assert_allclose(np.asarray(reported(position, model))[3:5], [var, cov])
    sigma = np.full((3, 3), cov) + (var - cov) * np.eye(3)
    lower = np.asarray(term_factor(position["cov"][0], term))
    np.testing.assert_allclose(lower @ lower.T, sigma, rtol=1e-12)
    z = data[["mA", "mB", "mC"]].to_numpy(float)
    codes = design.re_terms[0].codes
    mean = design.x @ np.asarray(position["beta"])
    want = 0.0
    for g in np.unique(codes):
        rows = codes == g
        cov_g = z[rows] @ sigma @ z[rows].T + s2 * np.eye(rows.sum())
        want += stats.multivariate_normal(mean[rows], cov_g).logpdf(design.y[rows])
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("command, priors, message", [
    (EXCHANGEABLE, {"{cov_U}": "uniform(-1, 1)"}, r"takes no prior.*uniform on \(-0.5, 1\)"),
    (EXCHANGEABLE, {"{var_U}": "lkj(2)"}, "cannot be put on"),
    (LKJ_COMMAND, {"{Sigma_U,m}": "lkj(-1)"}, "eta must be a positive number"),
    (LKJ_COMMAND, {"{Sigma_U,m}": "lkj(two)"}, r"write lkj\(eta\)"),
    (LKJ_COMMAND, {"{Sigma_U,m}": "lkj(2, normal(0, 1))"}, "must be a prior for a positive"),
    (LKJ_COMMAND, {"{Sigma_U,m}": "normal(0, 1)"}, r"or lkj\(eta\)"),
])
def test_bad_covariance_priors(command, priors, message):
    data = _machines() if "machine" in command else mejax.datasets.load("sleepstudy")
    with pytest.raises(mejax.SpecError, match=message):
        mejax.bayes(command, data, priors=priors)
