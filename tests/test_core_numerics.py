"""The structured computation against brute force, autodiff against finite differences,
and compiled code reused across similar data sets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.fit import programs
from mejax.fit.mixed import prepare
from mejax.models.lmm import lambdas_from_theta, profiled_deviance
from mejax.spec.design import build_design
from mejax.spec.formula import parse_formula


@pytest.fixture(scope="module")
def crossed_slopes() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 240
    df = pd.DataFrame({
        "a": rng.integers(0, 12, n).astype(str),
        "b": rng.integers(0, 7, n).astype(str),
        "x": rng.normal(size=n),
    })
    ua = rng.normal(size=(12, 2)) * [1.0, 0.5]
    ub = rng.normal(size=7) * 0.8
    ia, ib = df["a"].astype(int).to_numpy(), df["b"].astype(int).to_numpy()
    df["y"] = 2 + 0.5 * df["x"] + ua[ia, 0] + ua[ia, 1] * df["x"] + ub[ib] + rng.normal(size=n)
    return df


FORMULA = "y ~ x + (1 + x | a) + (1 | b)"


def _brute_force_deviance(theta, design, model, order):
    """-2 log L profiled over β and σ², built from the dense n×n V (small data only)."""
    terms = [design.re_terms[i] for i in order]
    lams = lambdas_from_theta(jnp.asarray(theta), model)
    n = design.nobs
    v = np.eye(n)
    for term, lam in zip(terms, lams):
        lam = np.asarray(lam)
        z = np.zeros((n, term.n_levels * term.z.shape[1]))
        k = term.z.shape[1]
        for j in range(k):
            z[np.arange(n), term.codes * k + j] = term.z[:, j]
        cov = np.kron(np.eye(term.n_levels), lam @ lam.T)
        v += z @ cov @ z.T
    x, y = design.x, design.y
    vinv = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ y)
    r = y - x @ beta
    rss = r @ vinv @ r
    return np.linalg.slogdet(v)[1] + n * (1 + np.log(2 * np.pi * rss / n))


def test_blocked_deviance_matches_dense_brute_force(crossed_slopes):
    design = build_design(parse_formula(FORMULA), crossed_slopes)
    order, model, arrays, _ = prepare(design, reml=False)
    for theta in ([0.7, 0.2, 0.4, 0.9], [1.3, -0.5, 0.1, 0.2], [0.0, 0.0, 0.3, 1.5]):
        got = float(profiled_deviance(jnp.asarray(theta), arrays, model))
        want = _brute_force_deviance(theta, design, model, order)
        assert got == pytest.approx(want, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("reml", [False, True])
def test_gradient_matches_finite_differences(crossed_slopes, reml):
    design = build_design(parse_formula(FORMULA), crossed_slopes)
    _, model, arrays, _ = prepare(design, reml=reml)
    theta = jnp.asarray([0.8, 0.3, 0.4, 0.7])
    grad = np.asarray(jax.grad(profiled_deviance)(theta, arrays, model))
    eps = 1e-6
    fd = [(float(profiled_deviance(theta.at[i].add(eps), arrays, model))
           - float(profiled_deviance(theta.at[i].add(-eps), arrays, model))) / (2 * eps)
          for i in range(theta.shape[0])]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_similar_data_reuses_compiled_fit(sleepstudy):
    """Shape buckets: a subset with fewer subjects and rows reuses the compiled fit."""
    mejax.mixed("Reaction ~ Days + (Days | Subject)", sleepstudy)
    def evaluations():
        return sum(memo[0][0] == "lmm_evaluation" for memo in programs._PROGRAMS)

    before = evaluations()
    subset = sleepstudy[sleepstudy["Subject"] != sleepstudy["Subject"].iloc[0]]
    noisy = sleepstudy.assign(Reaction=sleepstudy["Reaction"] + 1.0)
    mejax.mixed("Reaction ~ Days + (Days | Subject)", subset)
    mejax.mixed("Reaction ~ Days + (Days | Subject)", noisy)
    assert evaluations() == before


def test_crossed_fit_agrees_between_front_ends(crossed_slopes):
    a = mejax.mixed("y ~ x + (1 + x || a) + (1 | b)", crossed_slopes)
    b = mejax.stata("mixed y x || _all: R.b || a: x", crossed_slopes)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-6)


def test_repeated_fits_run_the_same_bfgs_compiled(sleepstudy, monkeypatch):
    """From the third fit of a model in a process, the host's BFGS runs as one compiled
    loop (fit/traced_bfgs.py): the same iterations, so the same estimates."""
    monkeypatch.setattr(programs, "_FITS", {})
    formula = "Reaction ~ Days + (Days | Subject)"
    fits = [mejax.mixed(formula, sleepstudy)
            for _ in range(programs.REPEATS_BEFORE_OPTIMISED + 1)]
    assert any(memo[0][0] == "lmm_repeated_fit" for memo in programs._PROGRAMS)
    first, last = fits[0], fits[-1]
    assert last.converged and last._fit["steps"] == first._fit["steps"]
    np.testing.assert_allclose(last.varcomp["estimate"].to_numpy(float),
                               first.varcomp["estimate"].to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(last.fixef_se.to_numpy(), first.fixef_se.to_numpy(), rtol=1e-9)
    assert last.loglik == pytest.approx(-875.969672, abs=1e-6)  # lmer, ML
    assert last.iterations == pytest.approx(first.iterations, rel=1e-12)
