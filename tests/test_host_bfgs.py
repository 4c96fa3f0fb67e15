"""The host-driven BFGS of single GLMM fits and the observed information by differences:
against closed forms (numpy objectives: nothing compiles), and a second fit of the same
model reusing its one compiled program."""

from __future__ import annotations

import numpy as np
import pytest

import mejax
from mejax.fit import programs
from mejax.fit.differences import host_information
from mejax.fit.host_bfgs import minimise

# a Poisson log likelihood in (intercept, slope): smooth, concave, its optimum and
# Hessian known in closed form at the optimum only through Newton's method
X = np.column_stack([np.ones(6), np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])])
Y = np.array([1.0, 0.0, 2.0, 4.0, 5.0, 9.0])


def poisson(params):
    eta = X @ params
    return float(Y @ eta - np.exp(eta).sum()), X.T @ (Y - np.exp(eta))


def poisson_newton() -> np.ndarray:
    beta = np.zeros(2)
    for _ in range(50):
        mu = np.exp(X @ beta)
        beta = beta + np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (Y - mu))
    return beta


def test_minimise_reaches_the_newton_optimum():
    out = minimise(poisson, np.zeros(2), None, nobs=6.0)
    assert out["success"] and out["steps"] < 60
    np.testing.assert_allclose(out["params"], poisson_newton(), rtol=1e-6)
    assert out["gain"] < 1e-7
    assert np.max(np.abs(out["grad"])) < 1e-5
    assert out["iterations"][-1] == pytest.approx(out["loglik"])
    assert np.all(np.diff(out["iterations"]) >= -1e-12)  # every accepted step climbs


def test_minimise_in_preconditioned_coordinates():
    beta = poisson_newton()
    mu = np.exp(X @ beta)
    info = X.T @ (mu[:, None] * X)
    values, vectors = np.linalg.eigh(info / 6.0)
    transform = vectors / np.sqrt(values)  # T'(H/n)T = I
    out = minimise(poisson, np.zeros(2), transform, nobs=6.0)
    np.testing.assert_allclose(out["params"], beta, rtol=1e-6)
    # the reported gradient is of −log L/n in the parameters' own scale
    np.testing.assert_allclose(out["grad"], -poisson(out["params"])[1] / 6.0, atol=1e-12)


def test_minimise_reports_failure():
    def nowhere(params):
        return np.nan, np.full(2, np.nan)

    assert not minimise(nowhere, np.zeros(2), None, nobs=6.0)["success"]
    assert not minimise(poisson, np.zeros(2), None, nobs=6.0, max_steps=2)["success"]


def test_host_information_is_the_hessian():
    beta = poisson_newton()
    mu = np.exp(X @ beta)
    info = host_information(lambda p: poisson(p)[1], beta, np.ones(2))
    np.testing.assert_allclose(info, X.T @ (mu[:, None] * X), rtol=1e-7)


def test_traced_minimise_takes_the_host_steps():
    """fit/traced_bfgs.py is the same algorithm as one XLA loop: same steps, same optimum."""
    import jax
    import jax.numpy as jnp

    from mejax.fit import traced_bfgs

    def poisson_jax(params):
        eta = jnp.asarray(X) @ params
        return jnp.asarray(Y) @ eta - jnp.exp(eta).sum(), jnp.asarray(X).T @ (Y - jnp.exp(eta))

    host = minimise(poisson, np.zeros(2), None, nobs=6.0)
    traced = jax.jit(lambda p0: traced_bfgs.minimise(poisson_jax, p0, jnp.eye(2), 6.0))(
        jnp.zeros(2))
    assert bool(traced["success"]) and int(traced["steps"]) == host["steps"]
    np.testing.assert_allclose(traced["params"], host["params"], rtol=1e-12)
    iterations = np.asarray(traced["iterations"])
    np.testing.assert_allclose(iterations[np.isfinite(iterations)], host["iterations"],
                               rtol=1e-13)
    assert float(traced["loglik0"]) == pytest.approx(host["loglik0"], rel=1e-14)
    stopped = jax.jit(lambda p0: traced_bfgs.minimise(poisson_jax, p0, jnp.eye(2), 6.0,
                                                      max_steps=2))(jnp.zeros(2))
    assert not bool(stopped["success"]) and int(stopped["steps"]) == 2


def test_second_glmm_fit_compiles_nothing(monkeypatch):
    monkeypatch.setattr(programs, "_FITS", {})  # what a new process starts with
    cbpp = mejax.datasets.load("cbpp")
    command = "melogit incidence i.period || herd:, binomial(size) laplace"
    first = mejax.stata(command, cbpp)
    first_vc = first.varcomp
    known = dict(programs._PROGRAMS)
    second = mejax.stata(command, cbpp)
    np.testing.assert_array_equal(second.varcomp["std_err"], first_vc["std_err"])
    assert dict(programs._PROGRAMS) == known  # the same three programs, nothing new
    assert second.loglik == first.loglik
    # a third fit of the model in the process: its programs (with and without the
    # random effects) compiled optimised, the same fit
    third = mejax.stata(command, cbpp)
    assert len(programs._PROGRAMS) == len(known) + 2
    assert third.loglik == pytest.approx(first.loglik, abs=1e-8)
    np.testing.assert_allclose(third.varcomp["estimate"].to_numpy(float),
                               first_vc["estimate"].to_numpy(float), rtol=1e-5)
