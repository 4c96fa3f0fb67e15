"""menl's simulate, parametric bootstrap, fit_batch and functional log likelihood (issue 16).

Orange's mean (b1 + U_tree) / (1 + exp(-(age - b2)/b3)) is linear in U, so the draws'
moments are known exactly: mean f(β̂, 0), covariance var(U) z z' within a tree plus the
residual covariance (σ² I, or σ² g_i g_j ρ^|Δt| with a power variance and AR(1)), with
z = f(β̂, 0)/b1. The bootstrap's standard errors are checked against the model-based ones,
and ``mejax.functional.menl_loglik`` against scipy's multivariate normal density.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from menl_cases import ORANGE
from scipy import stats

import mejax
import mejax.functional as mf
from mejax.batch.menl import MenlSimulator, reported_variances
from mejax.errors import DataError, SpecError
from mejax.inference.bootstrap import BootstrapResult

N_DRAWS = 4000


@pytest.fixture(scope="module")
def orange_data():
    df = mejax.datasets.load("orange")
    return df.assign(occasion=df.groupby("Tree").cumcount() + 1)


@pytest.fixture(scope="module")
def orange(orange_data):
    return mejax.stata(ORANGE, orange_data)


@pytest.fixture(scope="module")
def orange_ar1(orange_data):
    return mejax.stata(ORANGE + " resvariance(power age, noconstant) "
                       "rescorrelation(ar 1, t(occasion))", orange_data)


@pytest.fixture(scope="module")
def boot(orange):
    return orange.bootstrap(200, seed=3, progress=False)


def model_covariance(res, var_u: float, residual_cov: np.ndarray, fixed=None) -> np.ndarray:
    """var(U) z z' within trees plus the residual covariance, in estimation-sample order
    (z = f(β, 0)/b1, at the fit's β unless ``fixed`` = (f(β, 0), b1) is given)."""
    mean, b1 = fixed or (res.predict(fixedonly=True), res.fixef["b1"])
    z = mean / b1
    tree = res.design.frame["Tree"].to_numpy()
    return var_u * np.outer(z, z) * (tree[:, None] == tree[None, :]) + residual_cov


def check_moments(res, draws: np.ndarray, cov: np.ndarray) -> None:
    """Sample mean and covariance within Monte Carlo error (5 standard errors)."""
    n = len(draws)
    mean_err = (draws.mean(0) - res.predict(fixedonly=True)) / np.sqrt(np.diag(cov) / n)
    assert np.max(np.abs(mean_err)) < 5
    sd = np.sqrt(np.diag(cov))
    cov_se = np.sqrt((np.outer(sd, sd) ** 2 + cov ** 2) / n)
    assert np.max(np.abs(np.cov(draws, rowvar=False) - cov) / cov_se) < 5


def test_simulate_has_the_models_moments(orange):
    draws = orange.simulate(N_DRAWS, seed=0)
    assert draws.shape == (N_DRAWS, orange.nobs)
    var_u = orange.varcomp["estimate"].iloc[0]
    check_moments(orange, draws,
                  model_covariance(orange, var_u, orange.sigma2 * np.eye(orange.nobs)))


def test_simulate_with_power_variance_and_ar1(orange_ar1):
    """At the fit's β, var(U), σ² and δ but a strong AR(1) (ρ ≈ 0.6: the fitted one is 0)."""
    res = orange_ar1
    fit, model = res._fit, res.design.model
    theta = np.array([fit.theta[0], 0.7])  # Tree's relative factor, AR(1)'s η
    sim = MenlSimulator.from_parameters(res.design, fit.beta, theta, fit.vpar, fit.sigma2)
    var_u, rho, sigma2, delta = reported_variances(theta, fit.vpar, fit.sigma2, model)
    assert 0.5 < rho < 0.7 and sigma2 == pytest.approx(res.sigma2)
    frame = res.design.frame
    g = frame["age"].to_numpy() ** delta
    occasion = frame["occasion"].to_numpy()
    same = frame["Tree"].to_numpy()[:, None] == frame["Tree"].to_numpy()[None, :]
    corr = rho ** np.abs(occasion[:, None] - occasion[None, :]) * same
    check_moments(res, sim.draw(np.random.default_rng(1), N_DRAWS),
                  model_covariance(res, var_u, sigma2 * np.outer(g, g) * corr))


def test_seed_reproduces_and_draws_continue_one_stream(orange):
    a = orange.simulate(5, seed=11)
    np.testing.assert_array_equal(a, orange.simulate(5, seed=11))
    assert not np.allclose(a, orange.simulate(5, seed=12))
    simulator = mejax.batch.kinds.kind_for(orange).simulator(orange)
    rng = np.random.default_rng(11)
    np.testing.assert_allclose(np.concatenate([simulator.draw(rng, 2), simulator.draw(rng, 3)]),
                               a)


def test_bootstrap_against_the_model(orange, boot):
    assert isinstance(boot, BootstrapResult) and boot.n == 200 and boot.n_failed == 0
    table = boot.ci()
    assert list(table.index) == ["b1", "b2", "b3", "Tree: var(U)", "sigma2"]
    np.testing.assert_allclose(table["estimate"].to_numpy(),
                               [*orange.fixef, *orange.varcomp["estimate"]])
    fixed = table.loc[["b1", "b2", "b3"]]
    # replicate means within 4 Monte Carlo standard errors of the estimates
    assert np.all(np.abs(fixed["bias"]) < 4 * fixed["std_err"] / np.sqrt(boot.n))
    np.testing.assert_allclose(fixed["std_err"], orange.fixef_se, rtol=0.3)
    assert np.all((fixed["ci_lower"] < fixed["estimate"]) & (fixed["estimate"] < fixed["ci_upper"]))
    assert "200 replicates, 200 converged, seed 3" in str(boot.summary())


def test_bootstrap_replicates_are_fit_batch_of_the_seeded_draws(orange, boot):
    ys = orange.simulate(200, seed=3)[:8]
    batch = mejax.fit_batch(orange, ys)
    assert batch.kind == "menl" and batch.n_failed == 0
    cols = batch.estimate_columns + ["loglik"]
    np.testing.assert_allclose(batch.frame[cols].to_numpy(), boot.replicates[cols][:8].to_numpy(),
                               rtol=1e-8)
    single = orange.refit_batch(ys)
    np.testing.assert_allclose(batch.frame[["b1", "b2", "b3", "sigma2", "loglik"]].to_numpy(),
                               single[["b1", "b2", "b3", "sigma2", "loglik"]].to_numpy(),
                               rtol=1e-10)


def test_batch_input_checks(orange):
    ys = orange.simulate(8, seed=4)
    ys[2, 5] = np.nan
    with pytest.warns(mejax.ConvergenceWarning, match="1 non-finite input"):
        batch = mejax.fit_batch(orange, ys)
    assert list(batch.codes) == [0, 0, 2, 0, 0, 0, 0, 0]
    assert np.isnan(batch.frame.loc[2, "b1"])
    with pytest.raises(DataError, match="35 observations"):
        mejax.fit_batch(orange, ys[:, :-1])
    laplace = copy.copy(orange)
    laplace.method_name = "laplace"
    with pytest.raises(SpecError, match="Lindstrom-Bates"):
        laplace.bootstrap(10, seed=1)


def test_functional_loglik_is_the_normal_density(orange):
    """Orange is linear in U: the marginal likelihood is a normal density, at the ML
    estimates the fit's log likelihood; its gradient is the finite differences' (not zero
    in b2, b3: the loadings depend on them, which Lindstrom-Bates' GLS step ignores)."""
    data = mf.menl_data(orange)
    value_and_grad = jax.jit(jax.value_and_grad(mf.menl_loglik))  # one compile for both
    value, grad = value_and_grad(data.params0, data)
    assert float(value) == pytest.approx(orange.loglik, abs=1e-6)
    for name in ("beta", "theta", "log_sigma"):
        x = np.atleast_1d(np.asarray(data.params0[name]))
        for i in range(len(x)):
            step = 1e-4 * max(1.0, abs(x[i]))
            ends = [float(value_and_grad({**data.params0, name: jnp.asarray(
                x + sign * step * (np.arange(len(x)) == i)).reshape(
                np.shape(data.params0[name]))}, data)[0]) for sign in (1, -1)]
            assert np.atleast_1d(grad[name])[i] == pytest.approx(
                (ends[0] - ends[1]) / (2 * step), rel=1e-4, abs=1e-5)
    params = {**data.params0, "beta": data.params0["beta"] + jnp.array([5.0, -30.0, 20.0]),
              "log_sigma": data.params0["log_sigma"] + 0.2}
    beta, sigma2 = np.asarray(params["beta"]), float(np.exp(2 * params["log_sigma"]))
    var_u = reported_variances(params["theta"], params["vpar"], sigma2, orange.design.model)[0]
    age = orange.design.frame["age"].to_numpy()
    fixed = beta[0] / (1 + np.exp(-(age - beta[1]) / beta[2]))
    cov = model_covariance(orange, var_u, sigma2 * np.eye(orange.nobs), (fixed, beta[0]))
    expected = stats.multivariate_normal(fixed, cov).logpdf(orange.design.y)
    assert float(value_and_grad(params, data)[0]) == pytest.approx(expected, abs=1e-6)


def test_functional_refuses_what_the_integration_cannot_do(orange_ar1):
    with pytest.raises(SpecError, match="independent errors"):
        mf.menl_data(orange_ar1)
