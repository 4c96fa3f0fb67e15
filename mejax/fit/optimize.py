"""The compiled fit: optimise the profiled deviance, then everything the results need.

One jitted call runs the quasi-Newton optimisation (optimistix BFGS on the
unconstrained θ), the estimates at the optimum and the autodiff Hessian of the
log likelihood in Stata's parameters, so a warm fit is a single dispatch.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optimistix as optx

from ..models.lmm import (
    LmmStructure,
    estimates,
    loglik_theta,
    profiled_deviance,
    reported_entries,
    stata_parameters,
)

RTOL = 1e-10
ATOL = 1e-10


def _objective(theta, arrays, model: LmmStructure):
    return profiled_deviance(theta, arrays, model)


@partial(jax.jit, static_argnames=("model", "max_steps"))
def fit_lmm(theta0, arrays, model: LmmStructure, max_steps: int = 1000):
    """Fit and summarise one linear mixed model; returns a dict of arrays."""
    solver = optx.BFGS(rtol=RTOL, atol=ATOL)
    sol = optx.minimise(
        lambda th, a: _objective(th, a, model), solver, theta0, args=arrays,
        max_steps=max_steps, throw=False,
    )
    theta = sol.value
    grad = jax.grad(_objective)(theta, arrays, model)
    est = estimates(theta, arrays, model)
    theta_s = jnp.concatenate([theta, 0.5 * jnp.log(est["sigma2"])[None]])
    hess = jax.hessian(loglik_theta)(theta_s, arrays, model)
    cov_theta_s = jnp.linalg.inv(-hess)
    jac_entries = jax.jacfwd(reported_entries)(theta_s, model)
    jac_phi = jax.jacfwd(stata_parameters)(theta_s, model)
    return {
        "theta": theta,
        "success": sol.result == optx.RESULTS.successful,
        "steps": sol.stats["num_steps"],
        "grad": grad,
        "entries": reported_entries(theta_s, model),
        "entries_cov": jac_entries @ cov_theta_s @ jac_entries.T,
        "phi": stata_parameters(theta_s, model),
        "phi_cov": jac_phi @ cov_theta_s @ jac_phi.T,
        **est,
    }
