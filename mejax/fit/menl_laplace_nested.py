"""Laplace's method for a nonlinear mixed model with nested levels (``{UU[plot<zone]}``).

The effects of all levels are integrated together: with u the spherical effects of every
level stacked (b_l = Λ_l u_l), S(u) = Σ w_i (y_i − f_i(β, Λu))² + ‖u‖² and J = ∂(√w f)/∂u,

    log p(y) ≈ −½ Σ log(2π σ² g_i²) − S(û)/(2σ²) − ½ log|J'J + I|,

the same formula as one level (:mod:`mejax.fit.menl_laplace`), on the joint mode û. As
J'J + I is block diagonal by top-level cluster this is the product of each cluster's
Laplace integral; it is formed densely (size Σ groups × effects), so it suits models with
up to a few thousand effects. The mode is found by damped Gauss–Newton steps, and one
implicit Newton step with the exact Hessian of S makes the gradient in the parameters
exact, as for one level.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models.nonlinear import NonlinearStructure, linearize, mean
from .lindstrom_bates import NonlinearData, lambdas

MODE_STEPS = 50
HALVINGS = 20


def _unflatten(x, shapes) -> list:
    out, start = [], 0
    for m, k in shapes:
        out.append(x[start:start + m * k].reshape(m, k))
        start += m * k
    return out


def flatten(us) -> jax.Array:
    """Every level's spherical effects (groups × effects) as one vector."""
    return jnp.concatenate([u.reshape(-1) for u in us])


def _shapes(model: NonlinearStructure):
    return [(m, len(names)) for m, names in zip(model.n_groups, model.effects)]


def objective(beta, x, lams, log_w, arrays: NonlinearData, model: NonlinearStructure):
    """S(u): the weighted residual sum of squares plus ‖u‖², all levels."""
    bs = [u @ lam.T for u, lam in zip(_unflatten(x, _shapes(model)), lams)]
    resid = arrays.y - mean(beta, bs, arrays.codes, arrays.data, model)
    return jnp.sum(jnp.exp(log_w) * resid ** 2) + jnp.sum(x ** 2)


def weighted_jacobian(beta, x, lams, log_w, arrays: NonlinearData, model: NonlinearStructure):
    """(√w (y − f), ∂(√w f)/∂u) at u, dense (rows × Σ groups·effects)."""
    shapes = _shapes(model)
    us = _unflatten(x, shapes)
    bs = [u @ lam.T for u, lam in zip(us, lams)]
    fitted, _, zs = linearize(beta, bs, arrays.codes, arrays.data, model)
    sqrt_w = jnp.exp(0.5 * log_w)
    cols = []
    for z, lam, codes, (m, k) in zip(zs, lams, arrays.codes, shapes):
        onehot = jax.nn.one_hot(codes, m, dtype=z.dtype)
        cols.append(((z @ lam)[:, None, :] * onehot[:, :, None]).reshape(-1, m * k))
    return sqrt_w * (arrays.y - fitted), sqrt_w[:, None] * jnp.concatenate(cols, axis=1)


def modes(beta, x0, lams, log_w, arrays: NonlinearData, model: NonlinearStructure):
    """û: Gauss–Newton on S with step halving (the whole vector at once)."""
    def step(state):
        x, value, _, it = state
        resid, jac = weighted_jacobian(beta, x, lams, log_w, arrays, model)
        lhs = jac.T @ jac + jnp.eye(x.shape[0])
        delta = jax.scipy.linalg.solve(lhs, jac.T @ resid - x, assume_a="pos")

        def halve(i, carry):
            scale, best_x, best = carry
            trial = x + scale * delta
            val = objective(beta, trial, lams, log_w, arrays, model)
            better = val < best
            return (jnp.where(better, 0.0, 0.5 * scale), jnp.where(better, trial, best_x),
                    jnp.where(better, val, best))

        _, new_x, new_value = jax.lax.fori_loop(0, HALVINGS, halve, (1.0, x, value))
        return new_x, new_value, value - new_value, it + 1

    def keep_going(state):
        _, value, gain, it = state
        return (it < MODE_STEPS) & (gain > 1e-12 * (1.0 + value))

    value0 = objective(beta, x0, lams, log_w, arrays, model)
    x, _, _, _ = jax.lax.while_loop(keep_going, step, (x0, value0, jnp.inf, 0))
    return x


def nested_laplace_loglik(beta, theta, log_w, log_sigma, x0, arrays: NonlinearData,
                          model: NonlinearStructure, search: bool = True):
    """(Laplace log likelihood over every level's effects, the joint mode as a vector).

    ``x0`` starts the mode search, or is the mode itself when ``search`` is False."""
    lams = lambdas(theta, model)
    x_hat = jax.lax.stop_gradient(modes(
        jax.lax.stop_gradient(beta), x0, [jax.lax.stop_gradient(lam) for lam in lams],
        jax.lax.stop_gradient(log_w), arrays, model) if search else x0)

    def total(x):
        return objective(beta, x, lams, log_w, arrays, model)

    hess = jax.lax.stop_gradient(jax.hessian(total)(x_hat))
    x = x_hat - jnp.linalg.solve(hess, jax.grad(total)(x_hat))  # value û, exact dû/dparams
    _, jac = weighted_jacobian(beta, x, lams, log_w, arrays, model)
    log_det = jnp.linalg.slogdet(jac.T @ jac + jnp.eye(x.shape[0]))[1]
    s2 = jnp.exp(2.0 * log_sigma)
    n = arrays.y.shape[0]
    ll = (-0.5 * n * (jnp.log(2.0 * jnp.pi) + 2.0 * log_sigma) + 0.5 * jnp.sum(log_w)
          - 0.5 * total(x) / s2 - 0.5 * log_det)
    return ll, x_hat


def unflatten(x, model: NonlinearStructure) -> tuple:
    """The joint mode as each level's (groups × effects) array."""
    return tuple(_unflatten(x, _shapes(model)))
