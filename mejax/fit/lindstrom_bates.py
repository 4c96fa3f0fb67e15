"""Lindstrom–Bates estimation of a nonlinear mixed model (the algorithm of nlme and Stata's menl).

Alternate two steps until neither moves:

- **PNLS**: given the covariance parameters θ (relative factors Λ, Σ = σ²ΛΛ') and the
  residual variance function, minimise the penalised nonlinear least squares
  Σ w_i (y_i − f_i(β, Λu))² + ‖u‖² over the fixed effects β and the spherical
  effects u (Gauss–Newton with step halving, as nlme);
- **LME**: linearise the mean there, f ≈ Xβ + Zb with X = ∂f/∂β and the loadings
  Z = ∂f/∂b, and fit the linear mixed model of the working response
  y − f + Xβ + Zb with :mod:`mejax.models.lmm`'s profiled (restricted) deviance, over θ
  and the variance-function parameters (the fitted-mean covariate held at the PNLS fit).

REML is nlme's (R/nlme.R and src/nlme.c): the LME step maximises the restricted
likelihood of the linearised model over every variance parameter, and nlme's PNLS step
that follows re-estimates the random-effects covariance by ML (``nlme_increment``,
``RML = 0``) at the residual-correlation and variance-function values of that LME step.
So at the fixed point θ (the random effects' part) is the linearised model's ML θ, the
residual structure's and variance function's parameters are the REML ones, and the fit
reports the restricted criterion there: σ² = RSS/(N − p), Var(β̂) and the log likelihood
with it. Without residual or variance-function parameters the REML step has nothing to
keep, and the iteration is the ML one (nlme's ML and REML θ/σ² and β agree there).

At the fixed point the linear model's GLS β and BLUPs equal the PNLS solution, and the
reported log likelihood, Var(β̂) and variance components are that linear model's, as
in nlme and Stata. The whole iteration is one compiled, vmappable call
(``lax.while_loop``); non-convergence comes back as a flag, never an exception.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg.residual_blocks import whiten_groups
from ..linalg.traced_blocks import row_sums
from ..models.lmm import (
    LmmStructure,
    estimates,
    loglik_theta,
    profiled_deviance,
    residual_eta,
)
from ..models.nonlinear import NonlinearStructure, linearize, mean
from .optimize import ATOL, RTOL, bfgs, optx
from .programs import FAST_COMPILE, OPTIMISED

OUTER_TOL = 1e-7
MAX_OUTER = 200
PNLS_STEPS = 100
HALVINGS = 30


class NonlinearData(NamedTuple):
    """Row arrays of one nonlinear model (a pytree; ``covariate`` is a column or empty;
    ``residual`` the index arrays of a residual correlation, empty without one, with
    ``r_index`` (groups × rows) mapping each group's padded rows to data rows)."""

    y: jax.Array
    data: dict
    codes: tuple
    rows: dict
    index: dict
    covariate: jax.Array
    residual: dict


class LbFit(NamedTuple):
    """Estimates at the Lindstrom–Bates fixed point (all arrays: vmappable)."""

    beta: jax.Array
    us: tuple
    theta: jax.Array
    vpar: jax.Array
    sigma2: jax.Array
    vcov: jax.Array
    loglik: jax.Array
    converged: jax.Array
    iterations: jax.Array


def lmm_structure(model: NonlinearStructure, restricted: bool | None = None) -> LmmStructure:
    """The linearised model's structure; ``restricted`` overrides the model's REML flag."""
    reml = model.reml if restricted is None else restricted
    return LmmStructure(model.layout, model.structures, reml, model.residual)


def _split(vector, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(vector[start:start + size])
        start += size
    return out


def lambdas(theta, model: NonlinearStructure):
    sizes = [s.n_theta() for s in model.structures]
    return [s.lam(t) for s, t in zip(model.structures, _split(theta, sizes))]


def effects(us, theta, model: NonlinearStructure):
    """b_l = u_l Λ_l' for every level (rows: groups)."""
    return [u @ lam.T for u, lam in zip(us, lambdas(theta, model))]


def _covariate(fitted, arrays: NonlinearData, model: NonlinearStructure):
    return model.variance.row_covariate(fitted, arrays.covariate)


def residual_conditioning(theta, arrays: NonlinearData, model: NonlinearStructure) -> str:
    """Why the estimates at θ cannot be trusted (a near-singular R̃), or ``""``."""
    if model.residual is None:
        return ""
    return model.residual.near_singular(residual_eta(np.asarray(theta), model),
                                        arrays.residual)


def _grouped(values, arrays: NonlinearData):
    """Rows (n, K) as residual groups (G, M, K), padding zero."""
    res = arrays.residual
    return values[res["r_index"]] * res["r_mask"][:, :, None]


def whiten(values, theta, arrays: NonlinearData, model: NonlinearStructure):
    """Rows (n, K) times R̃^{-1/2} within the residual groups, (G·M, K); unchanged rows
    without a residual correlation."""
    if model.residual is None:
        return values
    white, _ = whiten_groups(residual_eta(theta, model), _grouped(values, arrays),
                             arrays.residual, model.residual)
    return white.reshape(-1, values.shape[1])


def _log_weights(vpar, v, model: NonlinearStructure):
    """log w_i = −2 log g_i: the residual precision relative to 1/σ²."""
    return -2.0 * model.variance.log_sd(vpar, v)


def _penalised_ss(beta, us, theta, lams, log_w, arrays: NonlinearData,
                  model: NonlinearStructure):
    bs = [u @ lam.T for u, lam in zip(us, lams)]
    resid = jnp.exp(0.5 * log_w) * (arrays.y - mean(beta, bs, arrays.codes, arrays.data, model))
    white = whiten(resid[:, None], theta, arrays, model)
    return jnp.sum(white ** 2) + sum(jnp.sum(u ** 2) for u in us)


def pnls(beta, us, theta, vpar, v, arrays: NonlinearData, model: NonlinearStructure):
    """Penalised nonlinear least squares over (β, u) at fixed θ and weights (Gauss–Newton)."""
    lams = lambdas(theta, model)
    log_w = _log_weights(vpar, v, model)
    sqrt_w = jnp.exp(0.5 * log_w)
    shapes = [u.shape for u in us]
    p = beta.shape[0]

    def unpack(x):
        sizes = [m * k for m, k in shapes]
        parts = _split(x[p:], sizes)
        return x[:p], tuple(part.reshape(shape) for part, shape in zip(parts, shapes))

    def objective(x):
        b, u = unpack(x)
        return _penalised_ss(b, u, theta, lams, log_w, arrays, model)

    def jacobian(x):
        """Columns of ∂(√w·f)/∂(β, u), dense (p + Σ groups·effects columns)."""
        b, u = unpack(x)
        bs = [ul @ lam.T for ul, lam in zip(u, lams)]
        fitted, xmat, zs = linearize(b, bs, arrays.codes, arrays.data, model)
        cols = [xmat]
        for z, lam, codes, (m, k) in zip(zs, lams, arrays.codes, shapes):
            onehot = jax.nn.one_hot(codes, m, dtype=z.dtype)
            cols.append(((z @ lam)[:, None, :] * onehot[:, :, None]).reshape(-1, m * k))
        return fitted, sqrt_w[:, None] * jnp.concatenate(cols, axis=1)

    def whitened(fitted, jac):
        """The weighted residuals and Jacobian with the residual correlation taken out."""
        both = whiten(jnp.concatenate([(sqrt_w * (arrays.y - fitted))[:, None], jac], axis=1),
                      theta, arrays, model)
        return both[:, 0], both[:, 1:]

    def step(state):
        x, value, _, it = state
        b, u = unpack(x)
        resid, jac = whitened(*jacobian(x))
        penalty = jnp.concatenate([jnp.zeros(p), x[p:]])
        eye = jnp.diag(jnp.concatenate([jnp.zeros(p), jnp.ones(x.shape[0] - p)]))
        lhs = jac.T @ jac + eye
        rhs = jac.T @ resid - penalty
        delta = jax.scipy.linalg.solve(lhs, rhs, assume_a="pos")

        def halve(carry):
            scale, _, _ = carry
            scale = 0.5 * scale
            return scale, objective(x + scale * delta), 0

        def worse(carry):
            scale, val, _ = carry
            return (~(val < value)) & (scale > 0.5 ** HALVINGS)

        scale, new_value, _ = jax.lax.while_loop(
            worse, halve, (1.0, objective(x + delta), 0))
        accept = new_value < value
        x_new = jnp.where(accept, x + scale * delta, x)
        gain = jnp.where(accept, value - new_value, 0.0)
        return x_new, jnp.where(accept, new_value, value), gain, it + 1

    def keep_going(state):
        _, value, gain, it = state
        return (it < PNLS_STEPS) & (gain > 1e-12 * (1.0 + value))

    x0 = jnp.concatenate([beta] + [u.reshape(-1) for u in us])
    x, value, _, _ = jax.lax.while_loop(keep_going, step,
                                        (x0, objective(x0), jnp.inf, 0))
    return unpack(x)


def working_model(beta, us, theta, arrays: NonlinearData, model: NonlinearStructure):
    """The linearised model at (β, Λu): X, loadings Z per level, working response, fitted."""
    bs = effects(us, theta, model)
    fitted, x, zs = linearize(beta, bs, arrays.codes, arrays.data, model)
    work = arrays.y - fitted + x @ beta
    for z, b, codes in zip(zs, bs, arrays.codes):
        work = work + jnp.sum(z * b[codes], axis=1)
    return x, zs, work, fitted


def lme_blocks(x, zs, work, log_w, arrays: NonlinearData, model: NonlinearStructure) -> dict:
    """Cross-product blocks of the weighted linearised [Z X y] for :mod:`mejax.models.lmm`;
    under a residual correlation the weighted rows by group (``r_data``), which the LMM
    whitens at each θ."""
    xy = jnp.concatenate([x, work[:, None]], axis=1)
    if model.residual is not None:
        rows = jnp.concatenate(list(zs) + [xy], axis=1) * jnp.exp(0.5 * log_w)[:, None]
        return {**arrays.residual, "r_data": _grouped(rows, arrays), **arrays.index,
                "nobs": jnp.asarray(x.shape[0], x.dtype)}
    zr = jnp.concatenate(zs[1:], axis=1) if len(zs) > 1 else jnp.zeros((x.shape[0], 0))
    sums = row_sums(zs[0], zr, xy, jnp.exp(log_w), arrays.rows, model.layout, model.n_blocks)
    return {**sums, **arrays.index, "nobs": jnp.asarray(x.shape[0], x.dtype)}


def lme_deviance(params, x, zs, work, v, arrays: NonlinearData, model: NonlinearStructure,
                 restricted: bool = False):
    """−2 × (restricted) log likelihood of the linearised model, profiled over β and σ²."""
    n_theta = params.shape[0] - model.variance.n_params()
    theta, vpar = params[:n_theta], params[n_theta:]
    log_w = _log_weights(vpar, v, model)
    blocks = lme_blocks(x, zs, work, log_w, arrays, model)
    return profiled_deviance(theta, blocks, lmm_structure(model, restricted)) - jnp.sum(log_w)


def _minimise(objective, start, n):
    sol = optx.minimise(lambda prm, _: objective(prm) / n,
                        bfgs.GainBFGS(rtol=RTOL * 1e-2, atol=ATOL * 1e-2), start,
                        args={"nobs": jnp.asarray(n, start.dtype)}, max_steps=500, throw=False)
    return sol.value, sol.result == optx.RESULTS.successful


def _n_level_theta(model: NonlinearStructure) -> int:
    return sum(s.n_theta() for s in model.structures)


def lme_step(params0, x, zs, work, v, arrays: NonlinearData, model: NonlinearStructure):
    """The LME step: ML over every variance parameter; under REML (nlme's), the restricted
    criterion for the residual structure's and variance function's parameters, then the
    random effects' θ by ML at those values (what nlme's PNLS step re-estimates)."""
    n = x.shape[0]
    n_level = _n_level_theta(model)
    if not model.reml or params0.shape[0] == n_level:
        return _minimise(lambda prm: lme_deviance(prm, x, zs, work, v, arrays, model),
                         params0, n)
    restricted, ok_r = _minimise(
        lambda prm: lme_deviance(prm, x, zs, work, v, arrays, model, True), params0, n)
    rest = restricted[n_level:]
    theta, ok_ml = _minimise(lambda th: lme_deviance(jnp.concatenate([th, rest]), x, zs, work,
                                                     v, arrays, model),
                             params0[:n_level], n)
    return jnp.concatenate([theta, rest]), ok_r & ok_ml


# a single fit's programs compile without LLVM's optimisation (fit/programs.py): Orange with
# AR(1) residuals compiles 29.5 -> 22.7 s (fit and SEs, under load) and runs 18 -> 20 ms;
# batches (fit_lindstrom_bates_batch) keep the optimised compile
@partial(jax.jit, static_argnums=(5,), compiler_options=FAST_COMPILE)
def fit_lindstrom_bates(beta0, us0, theta0, vpar0, arrays: NonlinearData,
                        model: NonlinearStructure) -> LbFit:
    """Iterate PNLS and LME steps to the fixed point, then the estimates there (with the
    restricted criterion under REML)."""
    n_theta = theta0.shape[0]

    def v_at(beta, us, theta):
        fitted = mean(beta, effects(us, theta, model), arrays.codes, arrays.data, model)
        return _covariate(fitted, arrays, model)

    def outer(state):
        """PNLS at the current θ, the linearisation there, the LME step. The state keeps the
        θ the PNLS step used and its linearisation, so the estimates after the loop need no
        second trace of either step."""
        beta, us, params = state[0], state[1], state[2]
        theta, vpar = params[:n_theta], params[n_theta:]
        beta_new, us = pnls(beta, us, theta, vpar, v_at(beta, us, theta), arrays, model)
        x, zs, work, fitted = working_model(beta_new, us, theta, arrays, model)
        new_params, ok = lme_step(params, x, zs, work, _covariate(fitted, arrays, model),
                                  arrays, model)
        change = jnp.max(jnp.abs(new_params - params) / (jnp.abs(params) + 1e-2))
        change = jnp.maximum(change, jnp.max(jnp.abs(beta_new - beta) / (jnp.abs(beta) + 1e-2)))
        return beta_new, us, new_params, params, (x, tuple(zs), work, fitted), change, \
            state[6] + 1, ok

    def keep_going(state):
        return (state[5] > OUTER_TOL) & (state[6] < MAX_OUTER)

    params0 = jnp.concatenate([theta0, vpar0])
    n, dtype = arrays.y.shape[0], arrays.y.dtype
    lin0 = (jnp.zeros((n, beta0.shape[0]), dtype),
            tuple(jnp.zeros((n, len(names)), dtype) for names in model.effects),
            jnp.zeros(n, dtype), jnp.zeros(n, dtype))
    state = (beta0, tuple(us0), params0, params0, lin0, jnp.asarray(jnp.inf, dtype), 0,
             jnp.asarray(True))
    beta, us, _, params, (x, zs, work, fitted), change, it, _ = jax.lax.while_loop(
        keep_going, outer, state)
    theta, vpar = params[:n_theta], params[n_theta:]
    log_w = _log_weights(vpar, _covariate(fitted, arrays, model), model)
    blocks = lme_blocks(x, zs, work, log_w, arrays, model)
    est = estimates(theta, blocks, lmm_structure(model))
    loglik = -0.5 * est["deviance"] + 0.5 * jnp.sum(log_w)
    converged = (change <= OUTER_TOL) & jnp.isfinite(loglik)
    return LbFit(beta, tuple(us), theta, vpar, est["sigma2"], est["vcov"], loglik, converged, it)


def reported_loglik(all_params, x, zs, work, v, arrays: NonlinearData,
                    model: NonlinearStructure):
    """Log likelihood of the linearised model at (θ, δ, log σ), β profiled (ML) / integrated."""
    n_theta = model.n_theta()
    n_var = model.variance.n_params()
    theta = all_params[:n_theta]
    vpar = all_params[n_theta:n_theta + n_var]
    log_sigma = all_params[n_theta + n_var:]
    log_w = _log_weights(vpar, v, model)
    blocks = lme_blocks(x, zs, work, log_w, arrays, model)
    theta_s = jnp.concatenate([theta, log_sigma])
    return loglik_theta(theta_s, blocks, lmm_structure(model)) + 0.5 * jnp.sum(log_w)


def variance_parameters(all_params, model: NonlinearStructure):
    """Reported variances/covariances per level, then σ² (or the residual correlation's
    values, which end with it) and the variance-function values."""
    n_theta = model.n_theta()
    n_var = model.variance.n_params()
    theta = all_params[:n_theta]
    vpar = all_params[n_theta:n_theta + n_var]
    s2 = jnp.exp(2.0 * all_params[-1])
    out = []
    for struct, lam in zip(model.structures, lambdas(theta, model)):
        sig = s2 * lam @ lam.T
        out.extend(sig[i, j] for i, j in struct.entries())
    parts = [jnp.stack(out)] if out else []
    residual = s2[None] if model.residual is None else \
        model.residual.reported(residual_eta(theta, model), s2)
    parts += [residual, model.variance.reported(vpar)]
    return jnp.concatenate(parts)


def natural_parameters(all_params, model: NonlinearStructure):
    """nlme's scale for the random effects' covariances (``lmeApVar``): every level's
    log standard deviations (absolute, σ·Λ) and atanh correlations, one per parameter of
    its structure; the other parameters (residual structure, variance function, log σ)
    as they are."""
    log_sigma = all_params[-1]
    out, start = [], 0
    for struct, lam in zip(model.structures, lambdas(all_params, model)):
        rel = lam @ lam.T
        seen = {}
        for (i, j), param in zip(struct.entries(), struct.entry_param()):
            if param in seen:
                continue
            seen[param] = log_sigma + 0.5 * jnp.log(rel[i, i]) if i == j else \
                jnp.arctanh(rel[i, j] / jnp.sqrt(rel[i, i] * rel[j, j]))
        out.extend(seen[k] for k in sorted(seen))
        start += struct.n_theta()
    return jnp.concatenate([jnp.stack(out), all_params[start:]]) if out else all_params


def _information(params, x, zs, work, v, arrays: NonlinearData, model: NonlinearStructure):
    """−Hessian of the reported log likelihood in ``params``' coordinates, with the Hessian
    taken on nlme's scale (:func:`natural_parameters`) under REML: there the random
    effects' θ is the ML one, the restricted criterion's gradient in it is not zero, and
    the curvature depends on the scale it is taken on (∇²_x f = J'∇²_y F J + Σ ∂F/∂y_k ∇²y_k;
    the second term is removed)."""
    args = (x, zs, work, v, arrays, model)
    hess = jax.hessian(reported_loglik)(params, *args)
    if not model.reml:
        return -hess
    grad = jax.grad(reported_loglik)(params, *args)
    jac = jax.jacfwd(natural_parameters)(params, model)
    curv = jax.hessian(natural_parameters)(params, model)
    grad_y = jnp.linalg.solve(jac.T, grad)
    corrected = hess - jnp.einsum("k,kij->ij", grad_y, curv)
    return jnp.where(jnp.all(jnp.isfinite(corrected)), -corrected, -hess)


@partial(jax.jit, static_argnums=(2,), compiler_options=FAST_COMPILE)
def variance_inference(fit: LbFit, arrays: NonlinearData, model: NonlinearStructure):
    """Reported variance parameters and their covariance (observed information, delta method).

    The information is that of the linearised model at the fixed point, as nlme's
    ``apVar`` and Stata's menl.
    """
    x, zs, work, fitted = working_model(fit.beta, fit.us, fit.theta, arrays, model)
    v = _covariate(fitted, arrays, model)
    params = jnp.concatenate([fit.theta, fit.vpar, 0.5 * jnp.log(fit.sigma2)[None]])
    cov = jnp.linalg.pinv(_information(params, x, zs, work, v, arrays, model))
    jac = jax.jacfwd(variance_parameters)(params, model)
    return variance_parameters(params, model), jac @ cov @ jac.T, fitted


@partial(jax.jit, static_argnums=(6, 7), compiler_options=OPTIMISED)
def fit_lindstrom_bates_batch(beta0, us0, theta0, vpar0, arrays: NonlinearData, ys,
                              model: NonlinearStructure, lanes: int = 1) -> LbFit:
    """:func:`fit_lindstrom_bates` for every response in the rows of ``ys``, in one
    compiled call: ``lanes`` fits at a time under ``vmap``, the groups one after another
    (``lax.map``); each fit keeps its own convergence flag.

    One lane (the default) is fastest on CPU: under ``vmap`` every nested ``while_loop``
    (the outer iteration, PNLS and its step halving, the LME step's BFGS) runs as many
    iterations as the slowest lane, each for all lanes, so a lane pays for the worst fit
    of its group at every level (simulated Theoph studies: 2 ms a fit one at a time,
    7 ms at 4 lanes, 30 ms at 50). Wider lanes can pay on an accelerator, where one fit's
    small operations leave it idle.
    """
    def one(y):
        return fit_lindstrom_bates.__wrapped__(beta0, us0, theta0, vpar0,
                                               arrays._replace(y=y), model)

    if lanes <= 1:
        return jax.lax.map(one, ys)
    n_fits = ys.shape[0]
    pad = -n_fits % lanes  # the last group filled with copies of the last response
    padded = jnp.concatenate([ys, jnp.broadcast_to(ys[-1:], (pad, ys.shape[1]))])
    out = jax.lax.map(jax.vmap(one), padded.reshape(-1, lanes, ys.shape[1]))
    return jax.tree.map(lambda a: a.reshape((n_fits + pad,) + a.shape[2:])[:n_fits], out)
