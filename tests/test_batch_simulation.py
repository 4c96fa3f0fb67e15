"""simulate, parametric bootstrap and power by simulation (linear mixed models).

Refits run in chunks of 8 so the file compiles the vmapped sleepstudy fit once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mejax
from mejax.batch.lmm import LmmKind
from mejax.batch.simulate import LmmSimulator
from mejax.inference.power import coefficient_index, wald_p_values, wilson_interval

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return mejax.mixed(FORMULA, sleepstudy)


def _implied_covariance(fit):
    """Marginal covariance of y implied by the estimates, built densely (180×180)."""
    design = fit.design
    z = np.zeros((design.nobs, 2 * 18))
    term = design.re_terms[0]
    for a in range(2):
        z[np.arange(design.nobs), term.codes * 2 + a] = term.z[:, a]
    vc = LmmKind().point_estimates(fit).to_numpy()[2:]
    sigma = np.array([[vc[0], vc[2]], [vc[2], vc[1]]])
    return z @ np.kron(np.eye(18), sigma) @ z.T + vc[3] * np.eye(design.nobs)


def test_simulate_moments(fit):
    y = fit.simulate(4000, seed=1)
    assert y.shape == (4000, 180)
    mean = fit.design.x @ fit.fixef.to_numpy()
    cov = _implied_covariance(fit)
    se = np.sqrt(np.diag(cov) / 4000)
    assert np.all(np.abs(y.mean(axis=0) - mean) < 4.5 * se)
    empirical = np.cov(y, rowvar=False)
    rows = [0, 9, 10, 95]  # subject 1 day 0 and day 9, subject 2 day 0, another subject
    np.testing.assert_allclose(empirical[np.ix_(rows, rows)], cov[np.ix_(rows, rows)],
                               rtol=0.12, atol=0.05 * cov[0, 0])


def test_simulate_is_reproducible_and_chunk_invariant(fit):
    a = fit.simulate(5, seed=3)
    np.testing.assert_array_equal(a, fit.simulate(5, seed=3))
    assert not np.allclose(a, fit.simulate(5, seed=4))
    sim = LmmSimulator.from_result(fit)
    rng = np.random.default_rng(3)
    pieces = np.concatenate([sim.draw(rng, 2), sim.draw(rng, 3)])
    np.testing.assert_array_equal(a, pieces)
    with pytest.raises(ValueError, match="positive"):
        fit.simulate(0)


def test_simulate_residual_structure(sleepstudy):
    ar = mejax.mixed("Reaction ~ Days + (1 | Subject)", sleepstudy, residuals="ar 1, t(Days)")
    y = ar.simulate(3000, seed=2)
    vc = LmmKind().point_estimates(ar)
    u, rho, s2 = vc["Subject: var((Intercept))"], vc["Residual: rho"], vc["Residual: var(e)"]
    cov = np.cov(y, rowvar=False)
    # rows 0..9 are subject 1 on days 0..9
    for lag in (0, 1, 3):
        expected = u + s2 * rho**lag
        assert cov[0, lag] == pytest.approx(expected, rel=0.12)
    assert cov[0, 15] == pytest.approx(0.0, abs=0.08 * (u + s2))  # another subject


def test_bootstrap_reproducible_with_intervals(fit):
    boot = fit.bootstrap(16, seed=7, chunk_size=8)
    again = fit.bootstrap(16, seed=7, chunk_size=8)
    other = fit.bootstrap(16, seed=8, chunk_size=8)
    frame = boot.replicates
    assert len(frame) == 16 and boot.n_failed == 0
    assert frame.equals(again.replicates)
    assert not np.allclose(frame["Days"], other.replicates["Days"])
    table = boot.ci()
    assert list(table.index) == boot.batch.estimate_columns
    np.testing.assert_allclose(table["estimate"], LmmKind().point_estimates(fit), rtol=1e-12)
    days = frame["Days"]
    assert table.loc["Days", "ci_lower"] == pytest.approx(np.quantile(days, 0.025))
    assert table.loc["Days", "ci_upper"] == pytest.approx(np.quantile(days, 0.975))
    assert table.loc["Days", "std_err"] == pytest.approx(days.std(ddof=1))
    assert table.loc["Days", "ci_lower"] < fit.fixef["Days"] < table.loc["Days", "ci_upper"]
    assert "Parametric bootstrap: 16 replicates" in str(boot.summary())


def test_power_sanity(sleepstudy, fit):
    truth = {"varcomp": {"Subject": [[600.0, 10.0], [10.0, 35.0]]}, "sigma2": 650.0}
    null = mejax.power(FORMULA, sleepstudy.drop(columns="Reaction"), test="Days",
                       fixef={"(Intercept)": 250.0, "Days": 0.0}, n_sim=200, seed=1,
                       chunk_size=8, **truth)
    assert null.n_used >= 195
    assert 0.0 < null.power < 0.13  # ML Wald z with 18 subjects: near alpha = 0.05
    assert null.ci_lower < null.power < null.ci_upper
    strong = mejax.power(fit, test="Days", n_sim=40, seed=2, chunk_size=8)
    assert strong.power == 1.0 and strong.test == ["Days"]
    weak = mejax.power(fit, test="Days", fixef={"Days": 2.0}, n_sim=80, seed=3, chunk_size=8)
    assert 0.15 < weak.power < 0.9


def test_power_input_errors(sleepstudy):
    data = sleepstudy.drop(columns="Reaction")
    with pytest.raises(mejax.SpecError, match="missing \\['Subject'\\]"):
        mejax.power(FORMULA, data, test="Days", fixef={"Days": 1.0}, sigma2=1.0)
    with pytest.raises(mejax.SpecError, match="no fixed effect 'day'"):
        mejax.power(FORMULA, data, test="day", varcomp={"Subject": 1.0}, sigma2=1.0)
    with pytest.raises(mejax.SpecError, match="2×2"):
        mejax.power(FORMULA, data, test="Days", varcomp={"Subject": np.eye(3)}, sigma2=1.0)
    with pytest.raises(mejax.SpecError, match="sigma2"):
        mejax.power(FORMULA, data, test="Days", varcomp={"Subject": 1.0})


def test_wald_helpers():
    names = ["(Intercept)", "x", "a2", "a3", "2.b", "3.b"]
    assert coefficient_index(names, "x") == [1]
    assert coefficient_index(names, "a") == [2, 3]
    assert coefficient_index(names, "b") == [4, 5]
    beta = np.array([[0.0, 1.96, 1.0, 1.0]])
    vcov = np.eye(4)[None]
    assert wald_p_values(beta, vcov, [1])[0] == pytest.approx(0.05, abs=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p2 = wald_p_values(beta, vcov, [2, 3])[0]
    assert p2 == pytest.approx(np.exp(-1.0))  # chi2(2) survival at 2
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
