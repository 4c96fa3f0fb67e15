"""The compiled fits of the linear model: a batch's optimiser loop and a single fit's program.

:func:`fit_lmm` runs the quasi-Newton optimisation (optimistix BFGS on the
unconstrained θ) and the estimates in one jitted call: vmapped, it fits many
responses at once (:mod:`mejax.batch.lmm`). A single fit compiles far less with
:func:`single_fit_evaluation`, one value-and-gradient that a host-side BFGS steps
over and whose central differences give the standard errors (:mod:`.mixed`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..lazy import lazy_module
from ..models.lmm import (
    LmmStructure,
    deviance_and_factor,
    estimates_from_factor,
    loglik_and_factor,
    profiled_deviance,
    reported_entries,
    stata_parameters,
    with_log_sigma,
)

# Step-size (Cauchy) tolerances, loose, plus a bound on the log likelihood the quasi-Newton
# model still expects to gain, ¼·n·g'H⁻¹g (the objective is deviance/n). The gain is
# scale-free, unlike a gradient bound: a slope variance 1e-4 the size of the intercept's
# leaves gradients of 1e-5 that no step can reduce. lme4-like 1e-9 step tolerances spent
# 13 of InstEval's 28 steps moving θ by less than 1e-6.
RTOL = 1e-6
ATOL = 1e-6
GAIN_TOL = 1e-7
HISTORY = 200  # accepted iterations kept for Stata's iteration log
STRUCTURE = "structure"  # key of a model's static structure among an objective's arrays

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
    return flatten({
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


def single_fit_evaluation(theta_s, profile, arrays, model: LmmStructure):
    """All a single fit reads at (θ, log σ), as one flat vector (one transfer).

    Log L and its gradient in (θ, log σ) (log σ at its optimum when ``profile``,
    :func:`~mejax.models.lmm.loglik_and_factor`), the factorization (the host takes
    the estimates from it) and the reported values (their Jacobians are differences
    of them, with the information's). A single fit compiles only this program: BFGS steps
    from the host over it (:mod:`.host_bfgs`) and its information is central
    differences of it, where :func:`fit_lmm` plus :func:`covariance_inference`
    compiled the optimiser's loop and a second gradient (sleepstudy: 2.1 s of XLA
    compile against 2.8 s).
    """
    (value, (log_sigma, (log_det, lxx))), grad = jax.value_and_grad(
        lambda t: loglik_and_factor(t, arrays, model, profile), has_aux=True)(theta_s)
    at = theta_s.at[-1].set(log_sigma)
    return flatten({
        "loglik": value, "grad": grad, "log_sigma": log_sigma, "log_det": log_det,
        "lxx": lxx, "entries": reported_entries(at, model), "phi": stata_parameters(at, model),
    })


def evaluation_shapes(model: LmmStructure) -> dict[str, tuple[int, ...]]:
    """Shapes of :func:`single_fit_evaluation`'s outputs, in order."""
    k = model.n_theta() + 1
    p = model.layout.p
    return {
        "loglik": (), "grad": (k,), "log_sigma": (), "log_det": (), "lxx": (p + 1, p + 1),
        "entries": (model.n_entries(),), "phi": (model.n_phi(),),
    }


def flatten(outputs: dict):
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


def unflatten(flat: np.ndarray, model: LmmStructure,
              shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """Named arrays from a flat output vector (:func:`output_shapes` unless ``shapes``)."""
    out, start = {}, 0
    for name, shape in (output_shapes(model) if shapes is None else shapes).items():
        size = int(np.prod(shape))
        out[name] = flat[start : start + size].reshape(shape)
        start += size
    return out
