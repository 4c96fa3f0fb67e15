"""Traced pieces of Kenward–Roger and Satterthwaite: derivatives of Φ = Var(β̂) by autodiff.

Everything runs through the structured factorization of
:func:`mejax.models.lmm.factorize`; no n×n matrix is ever formed. Kenward–Roger
works in ψ = (variances/covariances of each random-effects term, σ²), in which
V = ZGZ' + σ²I is linear, so the second derivative of Φ⁻¹ = X'V⁻¹X is exactly
Q_ij + Q_ji (R_ij = 0), as pbkrtest assumes.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..cov.structures import CovStructure
from ..linalg.blocked_cholesky import factor
from ..linalg.scaling import scaled_inverse
from ..models.lmm import (
    LmmStructure,
    covariances,
    factorize,
    loglik_theta,
    vcov_from_rx,
    with_log_sigma,
)


def _basis(struct: CovStructure) -> np.ndarray:
    """(n_params, k, k) 0/1 patterns: Σ = Σ_a ψ_a B_a, linear in the term's ψ."""
    basis = np.zeros((struct.n_phi(), struct.k, struct.k))
    for (i, j), a in zip(struct.entries(), struct.entry_param()):
        basis[a, i, j] = basis[a, j, i] = 1.0
    return basis


def psi_from_theta(theta, sigma2, model: LmmStructure):
    """ψ̂ from the fit's (θ, σ²): each term's free variances/covariances, then σ²."""
    theta_s = with_log_sigma(theta, sigma2)
    sigmas, s2 = covariances(theta_s, model)
    parts = []
    for struct, sig in zip(model.structures, sigmas):
        values = jnp.zeros(struct.n_phi())
        for (i, j), a in zip(struct.entries(), struct.entry_param()):
            values = values.at[a].set(sig[i, j])
        parts.append(values)
    return jnp.concatenate(parts + [s2[None]])


def _factor_psi(psi, arrays, model: LmmStructure):
    """(log|L_Z|², L_XX) at ψ: Λ_t = chol(Σ_t / σ²), so V = σ²(I + ZΛΛ'Z')."""
    s2 = psi[-1]
    lams, start = [], 0
    for struct in model.structures:
        n = struct.n_phi()
        sigma = jnp.einsum("a,aij->ij", psi[start:start + n], _basis(struct))
        lams.append(jnp.linalg.cholesky(sigma / s2))
        start += n
    return factor(lams, arrays, model.layout)


def phi_inv(psi, arrays, model: LmmStructure):
    """X'V⁻¹X = RX RX' / σ² (RX the lower p×p corner of L_XX)."""
    _, lxx = _factor_psi(psi, arrays, model)
    p = model.layout.p
    rx = lxx[:p, :p]
    return rx @ rx.T / psi[-1]


def reml_log_dets(psi, arrays, model: LmmStructure):
    """log|V| + log|X'V⁻¹X|; its Hessian is −tr(P G_i P G_j) (P the REML projection)."""
    log_det, lxx = _factor_psi(psi, arrays, model)
    p = model.layout.p
    log_rx = 2.0 * jnp.sum(jnp.log(jnp.diagonal(lxx)[:p]))
    return log_det + (arrays["nobs"] - p) * jnp.log(psi[-1]) + log_rx


@partial(jax.jit, static_argnames=("model",))
def kenward_roger_core(theta, sigma2, arrays, model: LmmStructure):
    """Φ, Φ_A, P_i = ∂Φ⁻¹/∂ψ_i (stacked last) and W, as pbkrtest's vcovAdj.

    W = 2 IE2⁻¹ with IE2_ij = tr(P G_i P G_j), the expected REML information
    (×2) that pbkrtest uses; U = Σ W_ij (Q_ij − P_i Φ P_j), Φ_A = Φ + 2ΦUΦ.
    """
    psi = psi_from_theta(theta, sigma2, model)

    def both(x):  # one factorization for Φ⁻¹ and the log-determinants: one trace to compile
        return phi_inv(x, arrays, model), reml_log_dets(x, arrays, model)

    def first(x):
        jac = jax.jacfwd(both)(x)
        return jac, jac

    # forward over forward: P_i = ∂Φ⁻¹/∂ψ_i (p, p, m), H = Q_ij + Q_ji (p, p, m, m)
    (hh, hess_ld), (pp, _) = jax.jacfwd(first, has_aux=True)(psi)
    phi = jnp.linalg.inv(both(psi)[0])
    phi = 0.5 * (phi + phi.T)
    ie2 = -hess_ld
    w = 2.0 * scaled_inverse(ie2)
    uu = 0.5 * jnp.einsum("ij,abij->ab", w, hh)
    uu = uu - jnp.einsum("ij,aci,cd,dbj->ab", w, pp, phi, pp)
    phi_a = phi + 2.0 * phi @ uu @ phi
    return phi, 0.5 * (phi_a + phi_a.T), pp, w


def _vcov_theta_s(theta_s, arrays, model: LmmStructure):
    """Var(β̂) at (θ, log σ) without profiling: σ²(RX RX')⁻¹."""
    _, lxx = factorize(theta_s[:-1], arrays, model)
    p = model.layout.p
    return vcov_from_rx(lxx[:p, :p], jnp.exp(2.0 * theta_s[-1]))


@partial(jax.jit, static_argnames=("model",))
def satterthwaite_core(theta, sigma2, arrays, model: LmmStructure):
    """Φ, its Jacobian in (θ, log σ) (stacked last) and A = Var of (θ, log σ).

    A is the inverse observed information of the (REML) log likelihood, as
    lmerTest (it uses the deviance Hessian in (θ, σ); the df do not depend on
    the parameterisation at the optimum).
    """
    theta_s = with_log_sigma(theta, sigma2)
    phi = _vcov_theta_s(theta_s, arrays, model)
    jac = jax.jacfwd(_vcov_theta_s)(theta_s, arrays, model)
    hess = jax.hessian(loglik_theta)(theta_s, arrays, model)
    return phi, jac, scaled_inverse(-hess)
