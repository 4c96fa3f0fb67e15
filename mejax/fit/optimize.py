"""The compiled fit: optimise the profiled deviance, then the estimates at the optimum.

One jitted call runs the quasi-Newton optimisation (optimistix BFGS on the
unconstrained θ) and the estimates, so a warm fit is a single dispatch. The
standard errors of the variance components need the Hessian of the log
likelihood, which costs more than the fit on large models; it is a second
compiled call, made only when a result asks for those standard errors.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..lazy import lazy_module
from ..linalg.scaling import scaled_inverse
from ..models.lmm import (
    LmmStructure,
    deviance_and_factor,
    estimates_from_factor,
    loglik_theta,
    profiled_deviance,
    reported_entries,
    stata_parameters,
    with_log_sigma,
)
from .differences import traced_information

# Step-size (Cauchy) tolerances, loose, plus a bound on the log likelihood the quasi-Newton
# model still expects to gain, ¼·n·g'H⁻¹g (the objective is deviance/n). The gain is
# scale-free, unlike a gradient bound: a slope variance 1e-4 the size of the intercept's
# leaves gradients of 1e-5 that no step can reduce. lme4-like 1e-9 step tolerances spent
# 13 of InstEval's 28 steps moving θ by less than 1e-6.
RTOL = 1e-6
ATOL = 1e-6
GAIN_TOL = 1e-7
HISTORY = 200  # accepted iterations kept for Stata's iteration log

# optimistix (with equinox and lineax) loads when a fit is first traced: a process that
# loads its exported programs (fit/programs.py) never imports it
optx = lazy_module("optimistix")
bfgs = lazy_module("mejax.fit.gain_bfgs")


def expected_gain(state, nobs):
    """Log likelihood the BFGS quadratic model still expects to gain at the current point."""
    grad = state.f_info.grad
    return 0.25 * nobs * jnp.abs(jnp.dot(grad, state.f_info.hessian_inv.mv(grad)))


def iteration_log(history: np.ndarray, loglik_per_objective: float) -> list[float]:
    """Log likelihood at each accepted iteration (the buffer's filled entries)."""
    values = np.asarray(history, dtype=float)
    return [float(v) * loglik_per_objective for v in values[np.isfinite(values)]]


def _objective(theta, arrays, model: LmmStructure):
    """Deviance per observation: O(1) curvature, so BFGS's first steps are well scaled."""
    return profiled_deviance(theta, arrays, model) / arrays["nobs"]


def _objective_with_factor(theta, arrays, model: LmmStructure):
    """:func:`_objective` plus the factorization, so the estimates need no extra pass."""
    deviance, factor = deviance_and_factor(theta, arrays, model)
    return deviance / arrays["nobs"], factor


@partial(jax.jit, static_argnames=("model", "max_steps"))
def fit_lmm(theta0, arrays, model: LmmStructure, max_steps: int = 1000):
    """Fit and summarise one linear mixed model; returns a dict of arrays.

    BFGS runs in θ/units (``arrays["theta_units"]``, :func:`mejax.fit.start.theta_units`):
    standardised columns, so the steps, tolerances and the reported gradient do
    not depend on the scale of the covariates.
    """
    units = arrays["theta_units"]
    solver = bfgs.LoggedBFGS(rtol=RTOL, atol=ATOL)
    sol = optx.minimise(
        lambda q, a: _objective_with_factor(units * q, a, model), solver, theta0 / units,
        args=arrays, max_steps=max_steps, throw=False, has_aux=True,
    )
    state, history = sol.state
    theta = units * sol.value
    # BFGS's state holds the gradient at the accepted point (optx.FunctionInfo):
    # reusing it saves compiling and running the gradient once more (in θ/units)
    grad = state.f_info.grad
    # the state's aux is the accepted point's (sol.aux lags one step behind): its
    # factorization gives β̂, σ̂² and Var(β̂)
    est = estimates_from_factor(*state.aux, arrays, model)
    theta_s = with_log_sigma(theta, est["sigma2"])
    return _flatten({
        "theta": theta,
        "success": sol.result == optx.RESULTS.successful,
        "steps": sol.stats["num_steps"],
        "grad": grad,
        "gain": expected_gain(state, arrays["nobs"]),
        "history": history,  # deviance / n at each accepted iteration
        "entries": reported_entries(theta_s, model),
        "phi": stata_parameters(theta_s, model),
        **est,
    })


@partial(jax.jit, static_argnames=("model",))
def covariance_inference(theta, sigma2, arrays, model: LmmStructure):
    """Covariances of the reported variance components and of Stata's φ.

    The observed information is −∇² of the log likelihood in (θ, log σ), by
    central differences of its autodiff gradient (:mod:`.differences`): a third
    of the XLA compile of ``jax.hessian``'s forward-over-reverse program. The
    delta method maps it to variances/covariances and φ.
    """
    theta_s = with_log_sigma(theta, sigma2)
    units = jnp.concatenate([arrays["theta_units"], jnp.ones(1)])
    info = traced_information(lambda t: jax.grad(loglik_theta)(t, arrays, model), theta_s,
                              units)
    cov_theta_s = scaled_inverse(info)
    jac_entries = jax.jacfwd(reported_entries)(theta_s, model)
    jac_phi = jax.jacfwd(stata_parameters)(theta_s, model)
    return jac_entries @ cov_theta_s @ jac_entries.T, jac_phi @ cov_theta_s @ jac_phi.T


def _flatten(outputs: dict):
    """One float vector for all outputs: a single device-to-host transfer."""
    return jnp.concatenate([jnp.ravel(v).astype(jnp.float64) for v in outputs.values()])


def output_shapes(model: LmmStructure) -> dict[str, tuple[int, ...]]:
    """Shapes of :func:`fit_lmm`'s outputs, in order, to unflatten on the host."""
    n_theta = model.n_theta()
    n_entries = model.n_entries()
    n_phi = model.n_phi()
    p = model.layout.p
    return {
        "theta": (n_theta,), "success": (), "steps": (), "grad": (n_theta,), "gain": (),
        "history": (HISTORY,), "entries": (n_entries,), "phi": (n_phi,),
        "beta": (p,), "sigma2": (), "vcov": (p, p), "deviance": (),
    }


def unflatten(flat: np.ndarray, model: LmmStructure) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, shape in output_shapes(model).items():
        size = int(np.prod(shape))
        out[name] = flat[start : start + size].reshape(shape)
        start += size
    return out
