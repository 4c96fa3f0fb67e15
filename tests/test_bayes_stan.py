"""mejax.bayes against Stan (rstan NUTS, 4 × 25,000 draws, the same priors and data).

References: tests/reference/bayes/stan_refs.json from make_refs_bayes.R with
glmm_independent.stan (Stata's default priors: normal(0, 10000) coefficients,
igamma(0.01, 0.01) variances). Posterior means, medians and 95% interval ends
must agree within 3 Monte Carlo standard errors (both samplers' MCSEs
combined); posterior SDs within 5%, or 3 combined MCSEs of the SD where this
short run's own MCSE is larger than that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import mejax
from mejax.bayes.diagnostics import quantile_mcse

REFS = json.loads((Path(__file__).parent / "reference" / "bayes" / "stan_refs.json").read_text())
CASES = {
    "sleepstudy_mixed": ("mixed Reaction Days || Subject: Days", "sleepstudy"),
    "cbpp_melogit": ("melogit incidence i.period || herd:, binomial(size)", "cbpp"),
    "epilepsy_mepoisson": ("mepoisson y lbase trt lbase_trt lage V4 || subject:", "epilepsy"),
}
SETTINGS = {"chains": 4, "draws": 500, "warmup": 500, "seed": 1}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    command, data = CASES[request.param]
    fit = mejax.bayes(command, mejax.datasets.load(data), **SETTINGS)
    return request.param, fit


def test_names_match_stata(case):
    name, fit = case
    assert list(fit.table.index) == list(REFS["cases"][name]["params"])


def test_posterior_agrees_with_stan(case):
    name, fit = case
    ref = REFS["cases"][name]["params"]
    names = fit.names
    table = fit.table
    q_mcse = {p: quantile_mcse(fit.draws, names, p) for p in (0.025, 0.5, 0.975)}
    for i, (param, r) in enumerate(ref.items()):
        row = table.loc[param]
        checks = [("mean", row["mean"], r["mean"], row["mcse"], r["mcse_mean"]),
                  ("median", row["median"], r["median"], q_mcse[0.5][i], r["mcse_median"]),
                  ("2.5%", row["lower"], r["q025"], q_mcse[0.025][i], r["mcse_q025"]),
                  ("97.5%", row["upper"], r["q975"], q_mcse[0.975][i], r["mcse_q975"])]
        for what, mine, stan, se_mine, se_stan in checks:
            bound = 3 * np.hypot(se_mine, se_stan)
            assert abs(mine - stan) < bound, (param, what, mine, stan, bound)
        sd_bound = max(0.05 * r["sd"], 3 * np.hypot(row["mcse_sd"], r["mcse_sd"]))
        assert abs(row["sd"] - r["sd"]) < sd_bound, (param, "sd", row["sd"], r["sd"])


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
    assert idata.posterior[first].shape == (4, 500)
    np.testing.assert_array_equal(idata.posterior[first].values, fit.parameter(first))
    assert "U0" in idata.posterior and "diverging" in idata.sample_stats
    text = str(fit.summary())
    assert "Equal-tailed" in text and re.search(r"MCMC sample size +=  +2,000", text)
    assert "Max Gelman-Rubin Rc" in text
    frame = fit.draws_frame()
    assert frame.shape == (2000, 2 + len(fit.names))
