"""Batch refits, simulation and the parametric bootstrap of GLMMs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mejax

CBPP = "cbind(incidence, size - incidence) ~ C(period) + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp_fit():
    return mejax.melogit(CBPP, mejax.datasets.load("cbpp"), method="laplace")


def test_batch_equals_individual_fits(cbpp_fit):
    data = mejax.datasets.load("cbpp")
    y = cbpp_fit.simulate(3, seed=11)
    batch = mejax.fit_batch(cbpp_fit, y)
    assert batch.converged.all()
    for i in range(3):
        one = mejax.melogit(CBPP, data.assign(incidence=y[i]), method="laplace")
        row = batch.frame.iloc[i]
        assert abs(row["loglik"] - one.loglik) < 1e-6
        np.testing.assert_allclose(row[one.design.x_names].to_numpy(float), one.fixef,
                                   atol=2e-4)
        assert abs(row["herd: var((Intercept))"] - one.varcomp["estimate"].iloc[0]) < 2e-4


def test_invalid_replicates_fail_alone(cbpp_fit):
    y = cbpp_fit.simulate(4, seed=2)
    y[1, 5] = np.nan
    y[2, 0] = 100  # more successes than trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = mejax.fit_batch(cbpp_fit, y).frame
    assert list(frame["code"]) == [0, 2, 2, 0]
    assert frame.loc[[1, 2], "loglik"].isna().all()
    with pytest.raises(mejax.DataError, match="columns"):
        mejax.fit_batch(cbpp_fit, y[:, :10])


def test_simulated_counts_have_the_model_mean():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(40), 10)
    x = rng.normal(size=g.size)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(scale=0.5, size=40)[g]))
    import pandas as pd

    data = pd.DataFrame({"y": y, "x": x, "g": g})
    fit = mejax.mepoisson("y ~ x + (1 | g)", data, method="laplace")
    draws = fit.simulate(4000, seed=5)
    var = fit.varcomp["estimate"].iloc[0]
    marginal = np.exp(fit.design.x @ fit.fixef.to_numpy() + var / 2)  # E over b ~ N(0, var)
    np.testing.assert_allclose(draws.mean(axis=0).mean(), marginal.mean(), rtol=0.03)


def test_bootstrap_is_reproducible_and_covers_the_estimate(cbpp_fit):
    a = cbpp_fit.bootstrap(40, seed=9)
    b = cbpp_fit.bootstrap(40, seed=9)
    np.testing.assert_array_equal(a.replicates.to_numpy(), b.replicates.to_numpy())
    ci = a.ci()
    inside = (ci["ci_lower"] <= ci["estimate"]) & (ci["estimate"] <= ci["ci_upper"])
    assert inside.loc[cbpp_fit.design.x_names].all()


def test_ordinal_and_negative_binomial_simulate_valid_outcomes():
    wine = mejax.datasets.load("wine")
    fit = mejax.meologit("rating ~ warm + contact + (1 | judge)", wine, method="laplace")
    draws = fit.simulate(50, seed=1)
    assert set(np.unique(draws)) <= set(wine["rating"].unique())
    epil = mejax.datasets.load("epilepsy")
    nb = mejax.menbreg("y ~ lbase + trt + (1 | subject)", epil, method="laplace")
    counts = nb.simulate(20, seed=1)
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    batch = mejax.fit_batch(nb, counts[:3])
    assert "/lnalpha" in batch.frame.columns


def test_batch_from_a_glmm_formula_or_command_equals_refits_of_the_fit(cbpp_fit):
    data = mejax.datasets.load("cbpp")
    y = cbpp_fit.simulate(3, seed=5)
    want = mejax.fit_batch(cbpp_fit, y).frame
    formula = mejax.fit_batch(CBPP, y, data=data, family="binomial", method="laplace").frame
    numeric = [c for c in want.columns if c != "status"]
    np.testing.assert_allclose(formula[numeric].to_numpy(float), want[numeric].to_numpy(float),
                               rtol=1e-10)
    # a command line, with data that lack the response (the first replicate stands in)
    command = mejax.fit_batch("melogit incidence i.period || herd:, binomial(size) laplace", y,
                              data=data.drop(columns="incidence")).frame
    np.testing.assert_allclose(command["loglik"], want["loglik"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(command["_cons"], want["(Intercept)"], atol=1e-4)


def test_glmm_batch_options_are_checked():
    data = mejax.datasets.load("cbpp")
    with pytest.raises(mejax.SpecError, match="one data frame"):
        mejax.fit_batch(CBPP, None, data=data, family="binomial")
    with pytest.raises(mejax.SpecError, match="options of linear models"):
        mejax.fit_batch(CBPP, np.zeros((1, len(data))), data=data, family="binomial", reml=True)
    with pytest.raises(mejax.SpecError, match="options of GLMMs"):
        mejax.fit_batch("incidence ~ 1 + (1 | herd)", np.zeros((1, len(data))), data=data,
                        method="laplace")


def test_batch_refits_give_each_fits_standard_errors(cbpp_fit):
    from mejax.batch.glmm import fit_glmm_responses

    data = mejax.datasets.load("cbpp")
    y = cbpp_fit.simulate(2, seed=5)
    batch = fit_glmm_responses(cbpp_fit, y, with_vcov=True)
    one = mejax.melogit(CBPP, data.assign(incidence=y[0]), method="laplace")
    np.testing.assert_allclose(np.sqrt(np.diag(batch.outputs["vcov"][0])), one.fixef_se,
                               rtol=1e-5)


def test_glmm_power_holds_its_size_and_detects_a_large_effect(cbpp_fit):
    null = mejax.power(cbpp_fit, test="period4", fixef={"period4": 0.0}, n_sim=200, seed=1,
                       progress=False)
    assert null.n_used >= 195
    assert 0.0 < null.power < 0.12  # Wald z with 15 herds: near alpha = 0.05
    strong = mejax.power(cbpp_fit, test="period", fixef={"period2": -2.0}, n_sim=100, seed=2,
                         progress=False)
    assert strong.test == ["period2", "period3", "period4"] and strong.power > 0.9
    with pytest.raises(mejax.SpecError, match="has none"):
        mejax.power(cbpp_fit, test="period2", sigma2=1.0, n_sim=10)
