"""Linear mixed model: profiled deviance, log likelihood and estimates (pure, traced).

Everything derives from :func:`mejax.linalg.blocked_cholesky.factor`. The
deviance is profiled over β and σ² so the optimiser only sees the covariance
parameters θ (lme4 / MixedModels.jl). The reporting log likelihood is written
in Stata's parameters φ (log standard deviations, atanh correlations, log
residual sd) so that its autodiff Hessian gives Stata's standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ..cov.residual import ResidualStructure
from ..cov.structures import CovStructure
from ..linalg.blocked_cholesky import factor
from ..linalg.blocks import BlockLayout
from ..linalg.residual_blocks import whitened_blocks

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class LmmStructure:
    """Static description of a linear mixed model (hashable: a jit static arg)."""

    layout: BlockLayout
    structures: tuple[CovStructure, ...]  # in block order (first term first)
    reml: bool
    residual: ResidualStructure | None = None

    def theta_sizes(self) -> list[int]:
        """Sizes of θ's pieces: one per term, then the residual parameters η."""
        sizes = [s.n_theta() for s in self.structures]
        return sizes + ([self.residual.n_params()] if self.residual else [])

    def n_theta(self) -> int:
        return sum(self.theta_sizes())

    def n_residual_reported(self) -> int:
        if self.residual is None:
            return 1
        return self.residual.n_by * len(self.residual.parameter_names())

    def n_entries(self) -> int:
        return sum(len(s.entries()) for s in self.structures) + self.n_residual_reported()

    def n_phi(self) -> int:
        return sum(s.n_phi() for s in self.structures) + self.n_residual_reported()


def _split(vector, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(vector[start : start + size])
        start += size
    return out


def lambdas_from_theta(theta, model: LmmStructure):
    return [s.lam(t) for s, t in zip(model.structures, _split(theta, model.theta_sizes()))]


def residual_eta(theta, model):
    """The residual structure's parameters η: θ after every random-effects term's.

    ``model`` is any structure with ``structures`` (the linear and the nonlinear one)."""
    return theta[sum(s.n_theta() for s in model.structures):]


def factorize(theta, arrays, model: LmmStructure):
    """(log|L_Z|² + log|R̃|, L_XX): the factorization every criterion starts from."""
    lams = lambdas_from_theta(theta, model)
    if model.residual is None:
        return factor(lams, arrays, model.layout)
    blocks, log_det_r = whitened_blocks(residual_eta(theta, model), arrays, model.layout,
                                        model.residual)
    log_det, lxx = factor(lams, blocks, model.layout)
    return log_det + log_det_r, lxx


def _array_module(x):
    """numpy for host arrays (a fit's final estimates: no eager JAX operations), else jnp."""
    return np if isinstance(x, np.ndarray) else jnp


def _criterion_terms(log_det, lxx, nobs, model: LmmStructure):
    xp = _array_module(lxx)
    p = model.layout.p
    r2 = lxx[p, p] ** 2
    log_det_x = 2.0 * xp.sum(xp.log(xp.diagonal(lxx)[:p])) if model.reml else 0.0
    dof = nobs - p if model.reml else nobs
    return r2, log_det_x, dof


def _deviance(log_det, log_det_x, dof, r2, xp=jnp):
    return log_det + log_det_x + dof * (1.0 + LOG_2PI + xp.log(r2 / dof))


def profiled_deviance(theta, arrays, model: LmmStructure):
    """-2 × (restricted) log likelihood profiled over β and σ²."""
    return deviance_and_factor(theta, arrays, model)[0]


def loglik_theta(theta_s, arrays, model: LmmStructure):
    """(Restricted) log likelihood at (θ, log σ) with β profiled out (ML) or integrated (REML).

    Its Hessian at the optimum gives the covariance of (θ, log σ); reported
    variances, covariances and Stata's log-sd/atanh parameters follow by the
    delta method. Unlike a parameterisation in Σ, it stays smooth at a zero
    variance (θ = 0 is an interior point).
    """
    return loglik_and_factor(theta_s, arrays, model, False)[0]


def loglik_and_factor(theta_s, arrays, model: LmmStructure, profile):
    """:func:`loglik_theta` and ``(log σ, factorization)``; ``profile`` (a traced bool)
    replaces log σ by its optimum given θ.

    Profiled, the value is −deviance/2 and, log σ being optimal, the gradient in θ is
    the profiled deviance's (times −½) while the one in log σ is zero: one program
    serves a single fit's optimiser (profiled) and its information (not).
    """
    theta = theta_s[:-1]
    log_det, lxx = factorize(theta, arrays, model)
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    optimum = 0.5 * jnp.log(jax.lax.stop_gradient(r2) / dof)
    log_sigma = jnp.where(profile, optimum, theta_s[-1])
    s2 = jnp.exp(2.0 * log_sigma)
    value = -0.5 * (log_det + log_det_x + dof * (LOG_2PI + 2.0 * log_sigma) + r2 / s2)
    return value, (log_sigma, (log_det, lxx))


def covariances(theta_s, model: LmmStructure):
    """Σ_t = σ²Λ_tΛ_t' for each term and the residual variance σ²."""
    s2 = jnp.exp(2.0 * theta_s[-1])
    lams = lambdas_from_theta(theta_s[:-1], model)
    return [s2 * lam @ lam.T for lam in lams], s2


def reported_entries(theta_s, model: LmmStructure):
    """Variances/covariances in reporting order, then the residual parameters.

    Without a residual structure the residual part is σ²; with one, the
    structure's reported values (correlations, var(e), ...) per by-level.
    """
    sigmas, s2 = covariances(theta_s, model)
    out = []
    for struct, sig in zip(model.structures, sigmas):
        out.extend(sig[i, j] for i, j in struct.entries())
    if model.residual is None:
        return jnp.stack(out + [s2])
    resid = model.residual.reported(residual_eta(theta_s[:-1], model), s2)
    return jnp.concatenate([jnp.stack(out) if out else jnp.zeros(0), resid])


def stata_parameters(theta_s, model: LmmStructure):
    """Stata's estimation scale φ: log sds and atanh correlations, then the residual part.

    Residual values go to the scale their intervals are built on: log sd for
    variances, atanh for correlations, logit for the exponential ρ.
    """
    sigmas, s2 = covariances(theta_s, model)
    parts = [s.phi_from_sigma(sig) for s, sig in zip(model.structures, sigmas)]
    if model.residual is None:
        return jnp.concatenate(parts + [theta_s[-1:]])
    values = model.residual.reported(residual_eta(theta_s[:-1], model), s2)
    scales = [scale for _, scale in model.residual.parameter_names()] * model.residual.n_by
    phi = [to_interval_scale(v, scale) for v, scale in zip(values, scales)]
    return jnp.concatenate(parts + [jnp.stack(phi)])


def to_interval_scale(value, scale: str):
    if scale == "log":
        return 0.5 * jnp.log(value)
    if scale == "atanh":
        return jnp.arctanh(value)
    if scale == "logit":
        return jnp.log(value) - jnp.log1p(-value)
    return value


def deviance_and_factor(theta, arrays, model: LmmStructure):
    """The profiled deviance and the factorization behind it (see :func:`estimates_from_factor`)."""
    log_det, lxx = factorize(theta, arrays, model)
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    return _deviance(log_det, log_det_x, dof, r2), (log_det, lxx)


def estimates(theta, arrays, model: LmmStructure):
    """β̂, σ̂², Var(β̂) = σ̂²(RX RX')⁻¹ = (X'V⁻¹X)⁻¹, and the criterion at θ."""
    log_det, lxx = factorize(theta, arrays, model)
    return estimates_from_factor(log_det, lxx, arrays, model)


def vcov_from_rx(rx, sigma2):
    """Var(β̂) = σ²(RX RX')⁻¹ from the lower p×p corner RX of L_XX."""
    if isinstance(rx, np.ndarray):
        rx_inv = np.linalg.solve(rx, np.eye(rx.shape[0]))
    else:
        rx_inv = solve_triangular(rx, jnp.eye(rx.shape[0]), lower=True)
    return sigma2 * rx_inv.T @ rx_inv


def with_log_sigma(theta, sigma2):
    """(θ, log σ): the parameter vector of :func:`loglik_theta` and the reported scales."""
    return jnp.concatenate([theta, 0.5 * jnp.log(sigma2)[None]])


def estimates_from_factor(log_det, lxx, arrays, model: LmmStructure):
    """:func:`estimates` from an existing factorization at θ (traced, or numpy on the host)."""
    p = model.layout.p
    rx = lxx[:p, :p]
    lx = lxx[p, :p]
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    sigma2 = r2 / dof
    if isinstance(lxx, np.ndarray):
        beta = np.linalg.solve(rx.T, lx)
    else:
        beta = solve_triangular(rx.T, lx, lower=False)
    vcov = vcov_from_rx(rx, sigma2)
    deviance = _deviance(log_det, log_det_x, dof, r2, _array_module(lxx))
    return {"beta": beta, "sigma2": sigma2, "vcov": vcov, "deviance": deviance}
