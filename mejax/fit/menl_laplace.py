"""The marginal likelihood of a nonlinear mixed model by Laplace's method (not linearised).

For Gaussian errors with variance σ² g_i² and effects b_g = Λ u_g, u_g ~ N(0, σ² I), the
integral over each group's effects is approximated at the conditional mode û_g (the
minimiser of the penalised sum of squares S_g(u) = Σ w_i (y_i − f_i(β, Λu))² + ‖u‖²,
w_i = 1/g_i²) with the Gauss–Newton curvature J'WJ + I (J = ∂f/∂u), as lme4's ``nlmer``:

    log p(y_g) ≈ −½ Σ log(2π σ² g_i²) − S_g(û_g)/(2σ²) − ½ log|J'WJ + I|.

When the mean is linear in the effects this is the exact integral. The modes come from
damped Gauss–Newton steps done group by group at once; the gradient in the parameters is
exact at the mode (one implicit Newton step with the exact Hessian of S, whose value is the
mode itself), and the parameters are optimised with BFGS from the Lindstrom–Bates fit.

Adaptive Gauss–Hermite quadrature (``nodes`` > 1, Stata's ``intmethod(mvaghermite)``)
integrates each group on the product rule centred at û_g and scaled by the same curvature,
u = û + √2 σ L'⁻¹ x with LL' = J'WJ + I:

    log p(y_g) = −½ Σ log(2π σ² g_i²) − (k/2) log π − log|L|
                 + log Σ_m w_m exp(‖x_m‖² − S_g(u_m)/(2σ²));

one node is Laplace's method, and the rule is exact in the limit of many nodes.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg.quadrature import curvature_scale, product_grid
from ..models.nonlinear import NonlinearStructure, linearize, mean
from .lindstrom_bates import LbFit, NonlinearData, lambdas, variance_parameters
from .menl_laplace_nested import flatten, nested_laplace_loglik, unflatten
from .optimize import ATOL, RTOL, bfgs, optx
from .programs import FAST_COMPILE

MODE_STEPS = 50
HALVINGS = 12
LOG_2PI = float(np.log(2.0 * np.pi))  # a host constant: jnp here compiles a program at import


def _split(params, model: NonlinearStructure):
    p = model.p
    n_theta = sum(s.n_theta() for s in model.structures)
    n_var = model.variance.n_params()
    return (params[:p], params[p:p + n_theta], params[p + n_theta:p + n_theta + n_var],
            params[-1])


def _group_sums(values, codes, m):
    return jax.ops.segment_sum(values, codes, num_segments=m)


def _residuals(beta, u, lam, log_w, arrays: NonlinearData, model: NonlinearStructure):
    fitted = mean(beta, [u @ lam.T], arrays.codes, arrays.data, model)
    return jnp.exp(0.5 * log_w) * (arrays.y - fitted)


def _group_objective(beta, u, lam, log_w, arrays, model):
    """S_g(u_g) for every group g."""
    r = _residuals(beta, u, lam, log_w, arrays, model)
    return _group_sums(r ** 2, arrays.codes[0], u.shape[0]) + jnp.sum(u ** 2, axis=1)


def _gauss_newton(beta, u, lam, log_w, arrays, model):
    """(J'WJ + I per group, J'W r − u per group) at u."""
    bs = [u @ lam.T]
    fitted, _, zs = linearize(beta, bs, arrays.codes, arrays.data, model)
    sqrt_w = jnp.exp(0.5 * log_w)
    jac = sqrt_w[:, None] * (zs[0] @ lam)            # ∂(√w f)/∂u_g, row by row
    r = sqrt_w * (arrays.y - fitted)
    m, k = u.shape
    cross = _group_sums(jac[:, :, None] * jac[:, None, :], arrays.codes[0], m) + jnp.eye(k)
    rhs = _group_sums(jac * r[:, None], arrays.codes[0], m) - u
    return cross, rhs


def conditional_modes(beta, u0, lam, log_w, arrays: NonlinearData, model: NonlinearStructure):
    """û_g for every group: damped Gauss–Newton, each group halving its own step."""
    def step(state):
        u, value, _, it = state
        cross, rhs = _gauss_newton(beta, u, lam, log_w, arrays, model)
        delta = jnp.linalg.solve(cross, rhs[..., None])[..., 0]

        def halve(i, carry):
            scale, best_u, best = carry
            trial = u + scale[:, None] * delta
            val = _group_objective(beta, trial, lam, log_w, arrays, model)
            better = val < best
            return (jnp.where(better, 0.0, 0.5 * scale), jnp.where(better[:, None], trial, best_u),
                    jnp.where(better, val, best))

        _, new_u, new_value = jax.lax.fori_loop(
            0, HALVINGS, halve, (jnp.ones(u.shape[0]), u, value))
        gain = jnp.max(value - new_value)
        return new_u, new_value, gain, it + 1

    def keep_going(state):
        _, value, gain, it = state
        return (it < MODE_STEPS) & (gain > 1e-12 * (1.0 + jnp.max(value)))

    value0 = _group_objective(beta, u0, lam, log_w, arrays, model)
    u, _, _, _ = jax.lax.while_loop(keep_going, step, (u0, value0, jnp.inf, 0))
    return u


def _at_modes(params, u0, arrays: NonlinearData, model: NonlinearStructure, search: bool):
    """The modes û (searched from ``u0``, or ``u0`` itself when ``search`` is False) and
    one implicit Newton step from them: its value is û, its derivative in the parameters
    the exact dû/dparams. Returns (β, Λ, log w, log σ, u, û)."""
    beta, theta, vpar, log_sigma = _split(params, model)
    lam = lambdas(theta, model)[0]
    log_w = -2.0 * model.variance.log_sd(vpar, arrays.covariate)
    u_hat = jax.lax.stop_gradient(conditional_modes(
        jax.lax.stop_gradient(beta), u0, jax.lax.stop_gradient(lam),
        jax.lax.stop_gradient(log_w), arrays, model) if search else u0)

    def total(u):
        return jnp.sum(_group_objective(beta, u, lam, log_w, arrays, model))

    grad_u = jax.grad(total)(u_hat)
    k = u_hat.shape[1]
    hess = jnp.stack([jax.jvp(jax.grad(total), (u_hat,),
                              (jnp.zeros_like(u_hat).at[:, j].set(1.0),))[1]
                      for j in range(k)], axis=2)      # (groups, k, k): each group's block
    hess = jax.lax.stop_gradient(hess)
    u = u_hat - jnp.linalg.solve(hess, grad_u[..., None])[..., 0]
    return beta, lam, log_w, log_sigma, u, u_hat


def _row_terms(log_w, log_sigma, n):
    """−½ Σ log(2π σ² g_i²): the part of every group's integral outside the exponent."""
    return -0.5 * n * (LOG_2PI + 2.0 * log_sigma) + 0.5 * jnp.sum(log_w)


def laplace_loglik(params, u0, arrays: NonlinearData, model: NonlinearStructure,
                   search: bool = True):
    """(Laplace log likelihood, modes) at params = (β, θ, variance-function values, log σ).

    The modes are searched from ``u0``; ``search=False`` takes ``u0`` as the modes (at the
    estimates, for the information matrix, without tracing the search again)."""
    beta, lam, log_w, log_sigma, u, u_hat = _at_modes(params, u0, arrays, model, search)
    cross, _ = _gauss_newton(beta, u, lam, log_w, arrays, model)
    s2 = jnp.exp(2.0 * log_sigma)
    penalised = jnp.sum(_group_objective(beta, u, lam, log_w, arrays, model))
    log_det = jnp.sum(jnp.linalg.slogdet(cross)[1])
    ll = _row_terms(log_w, log_sigma, arrays.y.shape[0]) - 0.5 * penalised / s2 - 0.5 * log_det
    return ll, u_hat


def quadrature_loglik(params, u0, arrays: NonlinearData, model: NonlinearStructure,
                      nodes: int, search: bool = True):
    """(Adaptive Gauss–Hermite log likelihood with ``nodes`` points per effect, modes)."""
    beta, lam, log_w, log_sigma, u, u_hat = _at_modes(params, u0, arrays, model, search)
    cross, _ = _gauss_newton(beta, u, lam, log_w, arrays, model)
    m, k = u.shape
    x, log_weights = (jnp.asarray(a) for a in product_grid(nodes, k))
    scale, log_det_scale = curvature_scale(jnp.linalg.cholesky(cross))  # C = L'⁻¹, log|C|
    sigma = jnp.exp(log_sigma)
    points = u[:, None, :] + jnp.sqrt(2.0) * sigma * jnp.einsum("gab,mb->gma", scale, x)
    values = jax.vmap(lambda um: _group_objective(beta, um, lam, log_w, arrays, model),
                      in_axes=1, out_axes=1)(points)              # (groups, nodes)
    log_terms = log_weights + jnp.sum(x ** 2, axis=1) - 0.5 * values / sigma ** 2
    per_group = (-0.5 * k * jnp.log(jnp.pi) + log_det_scale
                 + jax.scipy.special.logsumexp(log_terms, axis=1))
    return _row_terms(log_w, log_sigma, arrays.y.shape[0]) + jnp.sum(per_group), u_hat


def integrated_loglik(params, u0, arrays, model, nodes: int, search: bool = True):
    """Laplace's method (one node; over all levels jointly when they are nested, with
    ``u0`` every level's effects as one vector) or adaptive quadrature (one level)."""
    if len(model.effects) > 1:
        beta, theta, vpar, log_sigma = _split(params, model)
        log_w = -2.0 * model.variance.log_sd(vpar, arrays.covariate)
        return nested_laplace_loglik(beta, theta, log_w, log_sigma, u0, arrays, model, search)
    if nodes == 1:
        return laplace_loglik(params, u0, arrays, model, search)
    return quadrature_loglik(params, u0, arrays, model, nodes, search)


@partial(jax.jit, static_argnums=(2, 3), compiler_options=FAST_COMPILE)
def fit_laplace(start: LbFit, arrays: NonlinearData, model: NonlinearStructure,
                nodes: int = 1):
    """Maximise the Laplace (``nodes`` = 1) or adaptive-quadrature log likelihood from the
    Lindstrom–Bates estimates ``start``.

    Returns (LbFit with the Laplace estimates, the parameter vector, its covariance from the
    observed information of the Laplace likelihood, whether BFGS converged)."""
    params0 = jnp.concatenate([start.beta, start.theta, start.vpar,
                               0.5 * jnp.log(start.sigma2)[None]])
    nested = len(model.effects) > 1
    u0 = flatten(start.us) if nested else start.us[0]
    n = arrays.y.shape[0]

    def objective(prm, _):
        return -integrated_loglik(prm, u0, arrays, model, nodes)[0] / n

    sol = optx.minimise(objective, bfgs.GainBFGS(rtol=RTOL * 1e-2, atol=ATOL * 1e-2), params0,
                        args={"nobs": jnp.asarray(n, params0.dtype)}, max_steps=1000,
                        throw=False)
    params = sol.value
    ll, u_hat = integrated_loglik(params, u0, arrays, model, nodes)
    hess = jax.hessian(lambda prm: integrated_loglik(prm, u_hat, arrays, model, nodes,
                                                     False)[0])(params)
    cov = jnp.linalg.pinv(-hess)
    beta, theta, vpar, log_sigma = _split(params, model)
    p = model.p
    us = unflatten(u_hat, model) if nested else (u_hat,)
    fit = LbFit(beta, us, theta, vpar, jnp.exp(2.0 * log_sigma), cov[:p, :p], ll,
                (sol.result == optx.RESULTS.successful) & jnp.isfinite(ll),
                sol.stats["num_steps"])
    return fit, params, cov


@partial(jax.jit, static_argnums=(2,), compiler_options=FAST_COMPILE)
def laplace_variance(params, cov, model: NonlinearStructure):
    """Reported variance parameters and their covariance (delta method on the information)."""
    p = model.p
    jac = jax.jacfwd(variance_parameters)(params[p:], model)
    return variance_parameters(params[p:], model), jac @ cov[p:, p:] @ jac.T
