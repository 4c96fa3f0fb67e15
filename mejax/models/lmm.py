"""Linear mixed model: profiled deviance, log likelihood and estimates (pure, traced).

Everything derives from :func:`mejax.linalg.blocked_cholesky.factor`. The
deviance is profiled over β and σ² so the optimiser only sees the covariance
parameters θ (lme4 / MixedModels.jl). The reporting log likelihood is written
in Stata's parameters φ (log standard deviations, atanh correlations, log
residual sd) so that its autodiff Hessian gives Stata's standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ..cov.structures import CovStructure
from ..linalg.blocked_cholesky import factor
from ..linalg.blocks import BlockLayout

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class LmmStructure:
    """Static description of a linear mixed model (hashable: a jit static arg)."""

    layout: BlockLayout
    structures: tuple[CovStructure, ...]  # in block order (first term first)
    reml: bool

    def theta_sizes(self) -> list[int]:
        return [s.n_theta() for s in self.structures]

    def phi_sizes(self) -> list[int]:
        return [s.n_phi() for s in self.structures]


def _split(vector, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(vector[start : start + size])
        start += size
    return out


def lambdas_from_theta(theta, model: LmmStructure):
    return [s.lam(t) for s, t in zip(model.structures, _split(theta, model.theta_sizes()))]


def _criterion_terms(log_det, lxx, nobs, model: LmmStructure):
    p = model.layout.p
    r2 = lxx[p, p] ** 2
    log_det_x = 2.0 * jnp.sum(jnp.log(jnp.diagonal(lxx)[:p])) if model.reml else 0.0
    dof = nobs - p if model.reml else nobs
    return r2, log_det_x, dof


def _deviance(log_det, log_det_x, dof, r2):
    return log_det + log_det_x + dof * (1.0 + LOG_2PI + jnp.log(r2 / dof))


def profiled_deviance(theta, arrays, model: LmmStructure):
    """-2 × (restricted) log likelihood profiled over β and σ²."""
    log_det, lxx = factor(lambdas_from_theta(theta, model), arrays, model.layout)
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    return _deviance(log_det, log_det_x, dof, r2)


def loglik_theta(theta_s, arrays, model: LmmStructure):
    """(Restricted) log likelihood at (θ, log σ) with β profiled out (ML) or integrated (REML).

    Its Hessian at the optimum gives the covariance of (θ, log σ); reported
    variances, covariances and Stata's log-sd/atanh parameters follow by the
    delta method. Unlike a parameterisation in Σ, it stays smooth at a zero
    variance (θ = 0 is an interior point).
    """
    theta, log_sigma = theta_s[:-1], theta_s[-1]
    log_det, lxx = factor(lambdas_from_theta(theta, model), arrays, model.layout)
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    s2 = jnp.exp(2.0 * log_sigma)
    return -0.5 * (log_det + log_det_x + dof * (LOG_2PI + 2.0 * log_sigma) + r2 / s2)


def covariances(theta_s, model: LmmStructure):
    """Σ_t = σ²Λ_tΛ_t' for each term and the residual variance σ²."""
    s2 = jnp.exp(2.0 * theta_s[-1])
    lams = lambdas_from_theta(theta_s[:-1], model)
    return [s2 * lam @ lam.T for lam in lams], s2


def reported_entries(theta_s, model: LmmStructure):
    """Variances/covariances in reporting order, then the residual variance."""
    sigmas, s2 = covariances(theta_s, model)
    out = []
    for struct, sig in zip(model.structures, sigmas):
        out.extend(sig[i, j] for i, j in struct.entries())
    return jnp.stack(out + [s2])


def stata_parameters(theta_s, model: LmmStructure):
    """Stata's estimation scale φ: log sds and atanh correlations, then log σ."""
    sigmas, _ = covariances(theta_s, model)
    parts = [s.phi_from_sigma(sig) for s, sig in zip(model.structures, sigmas)]
    return jnp.concatenate(parts + [theta_s[-1:]])


def estimates(theta, arrays, model: LmmStructure):
    """β̂, σ̂², Var(β̂) = σ̂²(RX RX')⁻¹ = (X'V⁻¹X)⁻¹, and the criterion at θ."""
    log_det, lxx = factor(lambdas_from_theta(theta, model), arrays, model.layout)
    p = model.layout.p
    rx = lxx[:p, :p]
    lx = lxx[p, :p]
    r2, log_det_x, dof = _criterion_terms(log_det, lxx, arrays["nobs"], model)
    sigma2 = r2 / dof
    beta = solve_triangular(rx.T, lx, lower=False)
    rx_inv = solve_triangular(rx, jnp.eye(p), lower=True)
    vcov = sigma2 * rx_inv.T @ rx_inv
    deviance = _deviance(log_det, log_det_x, dof, r2)
    return {"beta": beta, "sigma2": sigma2, "vcov": vcov, "deviance": deviance}
