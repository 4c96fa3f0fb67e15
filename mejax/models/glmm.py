"""Generalized linear mixed model: the marginal log likelihood (pure, traced).

Random effects are b = Λu with u ~ N(0, I); the linear predictor of row i is
η_i = x_iβ + offset_i + v_i'u with v_i = Λ'z_i. The marginal likelihood
integrates u out. Two engines share one damped Newton search for the
conditional modes û:

* ``grouped`` — every random-effect term varies over the same groups (one
  level, any number of effects). The integral factorises over groups; each
  group's K-dimensional integral is done by the Laplace approximation or by
  Gauss–Hermite quadrature on a product grid: mode-curvature adaptive
  (``mcaghq``, lme4's nAGQ), mean-variance adaptive (``mvaghq``, Stata's
  default: the grid is moved to the posterior mean and scaled by the posterior
  variance, iterated from the mode) or non-adaptive (``ghq``).
* ``sparse`` — nested and crossed terms (Laplace). The Hessian
  I + Σ w_i v_i v_i' is assembled over all q random effects by a scatter and
  factored densely.
* ``nested`` — strictly nested levels with quadrature, integrated level by
  level (:mod:`.glmm_nested`, which has its own tree-structured Newton search).

Derivatives through the mode follow the implicit function theorem: the mode
is found without gradients, then ``order`` Newton steps are taken from it
inside the differentiated graph. At a converged mode the Newton map has zero
Jacobian, so one step gives exact first derivatives of û and two give exact
second derivatives (for an autodiff Hessian; the fits' observed information is
central differences of the exact gradient, which one step gives).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve
from jax.scipy.special import logsumexp

from ..linalg import small
from ..linalg.quadrature import curvature_scale, posterior_moments_at_nodes, product_grid
from . import newton
from .density import bind_rows, eta_derivatives, log_density, weighted_total
from .glmm_nested import CHUNK_ELEMENTS, grid_points, nested_cluster_logliks
from .glmm_structure import (
    MV_UPDATES,
    GlmmStructure,
    broadcast_data,
    relative_factor,
    split_params,
)

LOG_PI = float(np.log(np.pi))


# ---- the two random-effects layouts -------------------------------------------------
class _Grouped:
    """u is (G, K): one K-vector per group; curvature blocks are K×K per group."""

    def __init__(self, arrays, model: GlmmStructure):
        self.g = arrays["group"]
        self.n_units = model.n_units
        self.k = model.k

    def shape(self):
        return (self.n_units, self.k)

    def linear(self, zl, u):
        return jnp.sum(zl * u[self.g], axis=-1)

    def unit_sum(self, rows):
        return jax.ops.segment_sum(rows, self.g, num_segments=self.n_units)

    def prior(self, u):
        return 0.5 * jnp.sum(u**2, axis=-1)

    def gradient(self, zl, d1, u):
        return self.unit_sum(d1[:, None] * zl) - u

    def curvature(self, zl, w):
        outer = w[:, None, None] * zl[:, :, None] * zl[:, None, :]
        return jnp.eye(self.k) + self.unit_sum(outer)

    def factor(self, hess):
        return small.cholesky(hess)

    def solve(self, low, rhs):
        return small.cho_solve(low, rhs[..., None])[..., 0]

    def log_det(self, low):
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(low, axis1=-2, axis2=-1)), axis=-1)

    def step(self, u, delta, alpha):
        return u + alpha[..., None] * delta


class _Sparse:
    """u is (q,): all random effects together; the curvature is one dense q×q matrix."""

    def __init__(self, arrays, model: GlmmStructure):
        self.cols = arrays["cols"]
        self.n_units = model.n_units

    def shape(self):
        return (self.n_units,)

    def linear(self, zl, u):
        return jnp.sum(zl * u[self.cols], axis=-1)

    def unit_sum(self, rows):
        return jnp.sum(rows, axis=0, keepdims=True)

    def prior(self, u):
        return 0.5 * jnp.sum(u**2, keepdims=True)

    def gradient(self, zl, d1, u):
        contrib = (d1[:, None] * zl).reshape(-1)
        return jax.ops.segment_sum(contrib, self.cols.reshape(-1), self.n_units) - u

    def curvature(self, zl, w):
        outer = w[:, None, None] * zl[:, :, None] * zl[:, None, :]
        rows = jnp.broadcast_to(self.cols[:, :, None], outer.shape)
        cols = jnp.broadcast_to(self.cols[:, None, :], outer.shape)
        return jnp.eye(self.n_units).at[rows, cols].add(outer)

    def factor(self, hess):
        return jnp.linalg.cholesky(hess)

    def solve(self, low, rhs):
        return cho_solve((low, True), rhs)

    def log_det(self, low):
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(low)))[None]

    def step(self, u, delta, alpha):
        return u + alpha[0] * delta


def _layout(arrays, model: GlmmStructure):
    return _Grouped(arrays, model) if model.engine == "grouped" else _Sparse(arrays, model)


# ---- conditional modes -----------------------------------------------------------------
def _objective_pieces(u, eta0, zl, arrays, aux, model, layout):
    """Per unit: h(u) = Σ log p(y|u) − ½|u|², its gradient, the curvature's factor."""
    eta = eta0 + layout.linear(zl, u)
    ll, d1, d2 = eta_derivatives(model.family, eta, arrays["data"], aux)
    h = layout.unit_sum(ll) - layout.prior(u)
    grad = layout.gradient(zl, d1, u)
    low = layout.factor(layout.curvature(zl, -d2))
    return h, grad, low


def _values(u, eta0, zl, arrays, aux, model, layout):
    """h(u) per unit (no derivatives): what the step-size search compares."""
    eta = eta0 + layout.linear(zl, u)
    return layout.unit_sum(log_density(model.family, eta, arrays["data"], aux)) - layout.prior(u)


def conditional_modes(eta0, zl, arrays, aux, model: GlmmStructure):
    """û maximising h(u), by the shared damped Newton search (:mod:`.newton`), no gradients."""
    layout = _layout(arrays, model)
    eta0, zl, aux = (jax.lax.stop_gradient(a) for a in (eta0, zl, aux))
    arrays = {**arrays, "data": jax.lax.stop_gradient(arrays["data"])}  # bound row values

    def direction(u):
        h, grad, low = _objective_pieces(u, eta0, zl, arrays, aux, model, layout)
        return h, layout.solve(low, grad)

    def values(u):
        return _values(u, eta0, zl, arrays, aux, model, layout)

    return newton.maximise(jnp.zeros(layout.shape(), dtype=eta0.dtype), direction, values,
                           layout.step)


def _differentiable_mode(eta0, zl, arrays, aux, model, layout, order: int):
    """û with exact derivatives up to ``order``: that many Newton steps from the stopped mode."""
    u = jax.lax.stop_gradient(conditional_modes(eta0, zl, arrays, aux, model))
    for _ in range(order):
        _, grad, low = _objective_pieces(u, eta0, zl, arrays, aux, model, layout)
        u = u + layout.solve(low, grad)
    return u


# ---- integration -------------------------------------------------------------------------
def _quadrature(mu, scale, log_det_scale, eta0, zl, arrays, aux, model, layout):
    """log ∫ exp h(u) du per group on the grid u = μ + √2·C·ξ; also the node values.

    Row i's linear predictor at node m is η_i(μ) + √2·(C'v_i)·ξ_m: one small
    matrix product instead of gathering every group's nodes for every row.
    """
    xi, log_w = (jnp.asarray(a) for a in product_grid(model.nodes, model.k))
    g = layout.g
    centre = eta0 + jnp.sum(zl * mu[g], axis=-1)
    spread = jnp.einsum("na,nab->nb", zl, scale[g])
    eta = centre[:, None] + jnp.sqrt(2.0) * spread @ xi.T  # (n, M)
    ll = log_density(model.family, eta, broadcast_data(arrays["data"], 1), aux)
    u = mu[:, None, :] + jnp.sqrt(2.0) * jnp.einsum("gab,mb->gma", scale, xi)  # (G, M, K)
    log_f = (layout.unit_sum(ll) - 0.5 * jnp.sum(u**2, axis=-1)
             + jnp.sum(xi**2, axis=-1)[None, :] + log_w[None, :])
    value = -0.5 * model.k * LOG_PI + log_det_scale + logsumexp(log_f, axis=1)
    return value, log_f, u


def _mean_variance_step(log_f, u, eta0, zl, arrays, aux, model, layout):
    """The grid moved to the posterior mean and scaled by the posterior covariance."""
    mean, cov = posterior_moments_at_nodes(log_f, u)
    scale = small.cholesky(cov + 1e-12 * jnp.eye(model.k))
    log_det_scale = jnp.sum(jnp.log(jnp.diagonal(scale, axis1=-2, axis2=-1)), axis=-1)
    return _quadrature(mean, scale, log_det_scale, eta0, zl, arrays, aux, model, layout)


def _grouped_integral(mode, low, eta0, zl, arrays, aux, model, layout):
    k = model.k
    if model.method == "ghq":
        g = model.n_units
        scale = jnp.broadcast_to(jnp.eye(k), (g, k, k))
        return _quadrature(jnp.zeros((g, k)), scale, jnp.zeros(g), eta0, zl, arrays, aux,
                           model, layout)[0]
    # mode-curvature: C = L'^{-1} with H = LL', so CC' = H⁻¹ and log|C| = −½ log|H|
    value, log_f, u = _quadrature(mode, *curvature_scale(low), eta0, zl, arrays, aux, model,
                                  layout)
    if model.method == "mcaghq" or model.nodes == 1:
        return value

    for _ in range(MV_UPDATES):  # written out: a loop (MV_UPDATES is 1) would add a scan
        value, log_f, u = _mean_variance_step(log_f, u, eta0, zl, arrays, aux, model, layout)
    return value


def _predictor_parts(params, arrays, model: GlmmStructure):
    """η₀ = Xβ + offset, the rows' effect loadings V = ZΛ (None without effects), aux."""
    beta, thetas, aux = split_params(params, model)
    eta0 = arrays["x"] @ beta + arrays["offset"]
    zl = None if model.engine == "none" else arrays["z"] @ relative_factor(thetas, model)
    return eta0, zl, aux


def cluster_logliks(params, arrays, model: GlmmStructure, order: int = 1):
    """log ∫ p(y | u) φ(u) du per top-level cluster, by the model's integration method.

    The clusters are the groups of one level or of the top of nested levels,
    the rows without random effects, and the whole sample (one value) for
    crossed effects. ``order`` is the highest derivative that must be exact
    (1 for the fit's gradient and differences of it, 2 for an autodiff Hessian).
    """
    eta0, zl, aux = _predictor_parts(params, arrays, model)
    if model.engine == "none":
        return log_density(model.family, eta0, arrays["data"], aux)
    if model.engine == "nested":  # adaptive quadrature over nested levels
        return nested_cluster_logliks(eta0, zl, arrays, aux, model, order)
    layout = _layout(arrays, model)
    arrays = {**arrays, "data": bind_rows(model.family, arrays["data"], aux)}
    if model.engine == "grouped" and model.method == "ghq":
        return _grouped_integral(None, None, eta0, zl, arrays, aux, model, layout)
    mode = _differentiable_mode(eta0, zl, arrays, aux, model, layout, order)
    h, _, low = _objective_pieces(mode, eta0, zl, arrays, aux, model, layout)
    if model.method == "laplace" or model.engine == "sparse":
        return h - 0.5 * layout.log_det(low)
    return _grouped_integral(mode, low, eta0, zl, arrays, aux, model, layout)


BATCH_ELEMENTS = 2**22  # rows × grid points that a batch of gradients may hold at once


def points_per_row(arrays, model: GlmmStructure) -> int:
    """Grid points at which one evaluation computes every row's log density (shapes only;
    nested levels: the product over levels, though a chunk of it is held at once)."""
    if model.engine == "nested":
        return grid_points(arrays, model.nodes)
    if model.engine == "grouped" and model.method != "laplace":
        return model.nodes**model.k
    return 1


def gradient_batch(arrays, model: GlmmStructure, count: int) -> int | None:
    """How many of ``count`` log-likelihood gradients to evaluate at once (None: all).

    A gradient holds rows × grid points per row (the nested engine: at most one chunk
    of them); batches stay within :data:`BATCH_ELEMENTS`, so the observed information
    of a large quadrature does not hold every shifted gradient at once. Shapes only:
    decided when the program is traced.
    """
    rows = arrays["x"].shape[0]
    points = points_per_row(arrays, model)
    if model.engine == "nested":
        points = min(points, max(1, CHUNK_ELEMENTS // rows))
    fits = max(1, BATCH_ELEMENTS // (rows * points))
    return None if fits >= count else fits


FIXED_GRID_NODES = 7  # nested quadrature from this many points on: the fit's gradient holds
# the grids fixed (on the seed command's model at the start: |error| ≤ 4e-3 of gradients
# ~10 with 7 points; 0.9 with 3)


def fit_gradient_order(model: GlmmStructure) -> int:
    """The ``order`` a single fit's value-and-gradient program asks of the integrator.

    1 (exact, through the modes and the adaptation) except for nested quadrature with
    :data:`FIXED_GRID_NODES` points or more: 0, the derivative at fixed grids, which differs
    from the exact one by the quadrature's sensitivity to where its grid lies (1e-7 per
    observation at the seed command's optimum, against the fit's 1e-4 gradient tolerance)
    and costs a third of its evaluation and half of its compile (:mod:`.glmm_nested`;
    measured against order 2).
    """
    if model.engine == "nested" and model.nodes >= FIXED_GRID_NODES:
        return 0
    return 1


def marginal_loglik(params, arrays, model: GlmmStructure, order: int = 1):
    """log L(β, θ, aux) = Σ_c w_c log ∫ p(y_c | u) φ(u) du (w_c = 1 without weights)."""
    return weighted_total(cluster_logliks(params, arrays, model, order), arrays)


def _at_modes(params, arrays, model: GlmmStructure):
    """Everything post-estimation starts from: η₀, V = ZΛ, aux, layout, modes, curvature factor."""
    eta0, zl, aux = _predictor_parts(params, arrays, model)
    layout = _layout(arrays, model)
    mode = conditional_modes(eta0, zl, arrays, aux, model)
    _, _, low = _objective_pieces(mode, eta0, zl, arrays, aux, model, layout)
    return eta0, zl, aux, layout, mode, low


def conditional_posterior(params, arrays, model: GlmmStructure):
    """Modes û and the curvature factor L at them (host post-estimation: ebmodes, SEs)."""
    *_, mode, low = _at_modes(params, arrays, model)
    return mode, low, relative_factor(split_params(params, model)[1], model)


# ---- post-estimation (empirical Bayes means) ----------------------------------------------
EB_MV_UPDATES = 10  # mean-variance adaptation steps for the posterior moments


def posterior_moments(params, arrays, model: GlmmStructure, nodes: int = 7):
    """Posterior mean (G, K) and covariance (G, K, K) of u per group (grouped engine).

    Mean-variance adaptive Gauss–Hermite quadrature with ``nodes`` points per
    dimension, started at the mode and curvature — Stata's ``ebmeans``
    whatever the fit's integration method.
    """
    from dataclasses import replace

    quad = replace(model, method="mvaghq", nodes=int(nodes))
    eta0, zl, aux, layout, mode, low = _at_modes(params, arrays, model)
    _, log_f, u = _quadrature(mode, *curvature_scale(low), eta0, zl, arrays, aux, quad, layout)

    def update(_, state):
        return _mean_variance_step(*state, eta0, zl, arrays, aux, quad, layout)[1:]

    return posterior_moments_at_nodes(*jax.lax.fori_loop(0, EB_MV_UPDATES, update, (log_f, u)))
