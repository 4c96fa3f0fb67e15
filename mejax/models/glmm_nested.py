"""Adaptive Gauss–Hermite quadrature for nested random effects (pure, traced).

For strictly nested levels (top level 0, effects u⁰, u¹, ...; each group of
level l+1 lies in one group of level l) the likelihood of a top group j is

    ∫ φ(u_j) Π_{s ∈ j} [ ∫ φ(v_s) Π_{r ∈ s} [ ... Π_rows p(y | η) ... ] dv_s ] du_j,

integrated recursively, level by level, on product Gauss–Hermite grids
(Stata's multilevel ``intmethod()``). Every integral — one per group and
per combination of the nodes of its ancestors — gets its own grid:

* ``mcaghq`` (mode-curvature): centred at the conditional mode of the group's
  effect given its ancestors' node values, maximised jointly with all the
  effects below it, and scaled by the curvature of that profile (the Schur
  complement of the joint Hessian: the lower levels are eliminated).
  This is Pinheiro & Chao's (2006) multilevel AGQ: with one node per level it
  is exactly the joint Laplace approximation of the sparse engine.
* ``mvaghq`` (mean-variance, Stata's default): starts from that grid and moves
  it to the posterior mean and covariance of the group's effect computed on
  the grid itself (the lower integrals included; for a lower level, given
  its ancestors' node values), ``MV_UPDATES`` times.
* ``ghq``: the standard-normal grid at every level.

Arrays are vectorised over (groups × ancestor nodes): at level l the linear
predictor is (rows, B) with B ancestor-node combinations (the same for every
row), so one pass over the bottom level costs rows × Π_l M_l evaluations
(M_l = nodes^k_l). They are not all held at once: a level's nodes are
integrated below in chunks (:func:`node_chunk`, :data:`CHUNK_ELEMENTS`), each
checkpointed for reverse mode, so memory grows with rows × the nodes of a
level, not with the product over levels. Mean-variance adaptation makes MV_UPDATES + 1
passes at every level, each redoing the levels below: (MV_UPDATES + 1)^L
bottom passes in all, plus the Newton searches for the modes (warm-started
from the first-order change of the joint mode, so a few steps each).

Conditional modes: a Newton search over all the effects of a subtree whose
Hessian is eliminated bottom-up (each group's block and its cross blocks with
its ancestors; Schur complements are summed into the parents), run without
gradients; then two Newton steps from it in the differentiated graph give
exact first and second derivatives of the modes (as in :mod:`.glmm`). The
mean-variance updates are a fixed number of explicit steps, differentiated
as they are. The objective's gradient and autodiff Hessian are therefore
those of the computed approximation itself, adaptation included (with
``order`` = 1, one Newton step, the gradient is exact; ``order`` = 2 for an
autodiff Hessian).

``order`` = 0 holds the adaptation fixed in the derivative: every grid (modes,
curvatures, mean-variance moves) is computed from inputs without derivatives
and only the last pass on the final grids is differentiated. The exact
integral does not depend on where its grid lies, so this differs from the
derivative of the approximation only by the quadrature's sensitivity to the
grid (on the seed command's model with 7 points, about 1e-7 per observation at
the optimum; with 3 points 10% of the gradient at the start). The value is the
same; reverse mode then skips the Newton steps, the mean-variance updates and
all but one bottom pass: profiled on that model (816 rows, 7⁴ nodes per row,
under load), value and gradient cost 0.21 s and 13 s of compile against 0.72 s
and 29 s at ``order`` = 2. Single fits use it from
:data:`mejax.models.glmm.FIXED_GRID_NODES` points on.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..linalg import small
from ..linalg.quadrature import MAX_GRID, curvature_scale, posterior_moments_at_nodes, product_grid
from . import newton
from .density import eta_derivatives, log_density
from .glmm_structure import MV_UPDATES, GlmmStructure, broadcast_data

LOG_PI = float(np.log(np.pi))
SQRT2 = float(np.sqrt(2.0))


class Level(NamedTuple):
    """One nested level: row codes (N,), parent codes (G,), rows of ZΛ (N, k).

    ``weight`` (G,): the groups' pseudo-likelihood weights, which multiply the
    log of each group's integral inside its parent's (None: unweighted).
    """

    group: jax.Array
    parent: jax.Array
    zl: jax.Array
    weight: jax.Array | None = None

    @property
    def n(self) -> int:
        return self.parent.shape[0]

    @property
    def k(self) -> int:
        return self.zl.shape[1]


def levels_from(arrays: dict, zl) -> list[Level]:
    """The levels, top first, from the engine's arrays and ZΛ (all effects' columns)."""
    return [Level(lv["group"], lv["parent"], jnp.take(zl, lv["cols"], axis=1), lv.get("weight"))
            for lv in arrays["levels"]]


def _ancestor(sub: list[Level], m: int, a: int):
    """Codes (G_m,) of the level-a ancestor of every level-m group (a < m)."""
    codes = sub[m].parent
    for b in range(m - 1, a, -1):
        codes = sub[b].parent[codes]
    return codes


def _to_top(values, sub: list[Level], m: int):
    """Sum per-group values (G_m, ...) of level m into the top groups of ``sub``."""
    if m == 0:
        return values
    return jax.ops.segment_sum(values, _ancestor(sub, m, 0), num_segments=sub[0].n)


def _linear(eta_off, sub: list[Level], us):
    """η = η_off + Σ_l z_lΛ_l u_l[g_l]: (N, B)."""
    for lv, u in zip(sub, us):
        eta_off = eta_off + jnp.einsum("nk,nbk->nb", lv.zl, u[lv.group])
    return eta_off


# ---- the joint conditional mode of a subtree -------------------------------------------------
class Elimination(NamedTuple):
    """Bottom-up elimination of the curvature of h over a subtree's effects.

    Per level m: ``low`` the Cholesky factor of the group's own block after its
    children were eliminated (at m = 0 the profile curvature of the top
    effects), ``x`` = R⁻¹b_own and ``y`` = R⁻¹Q' (Q the cross block with the
    ancestors; None at m = 0), so δ_own = x − y δ_ancestors.
    """

    h: jax.Array  # (G_0, B) h = Σ log p − ½Σ|u|² per top group
    low: list
    x: list
    y: list


def eliminate(us, eta_off, sub: list[Level], data: dict, aux, family) -> Elimination:
    """h, and the eliminated curvature −∇²h and gradient ∇h, at the effects ``us``."""
    eta = _linear(eta_off, sub, us)
    ll, d1, d2 = eta_derivatives(family, eta, broadcast_data(data, 1), aux)
    zt = jnp.concatenate([lv.zl for lv in sub], axis=1)  # (N, K): the whole ancestor chain
    leaf = sub[-1]
    b = jax.ops.segment_sum(d1[..., None] * zt[:, None, :], leaf.group, leaf.n)
    outer = zt[:, :, None] * zt[:, None, :]
    a = jax.ops.segment_sum(-d2[..., None, None] * outer[:, None], leaf.group, leaf.n)
    h = jax.ops.segment_sum(ll, sub[0].group, sub[0].n)
    lows, xs, ys = [None] * len(sub), [None] * len(sub), [None] * len(sub)
    for m in reversed(range(len(sub))):
        k = sub[m].k
        kp = a.shape[-1] - k
        a = a.at[..., kp:, kp:].add(jnp.eye(k))
        b = b.at[..., kp:].add(-us[m])
        h = h - 0.5 * _to_top(jnp.sum(us[m] ** 2, axis=-1), sub, m)
        low = small.cholesky(a[..., kp:, kp:])
        x = small.cho_solve(low, b[..., kp:, None])[..., 0]
        lows[m], xs[m] = low, x
        if m == 0:
            break
        q = a[..., :kp, kp:]
        y = small.cho_solve(low, jnp.swapaxes(q, -1, -2))
        ys[m] = y
        schur = a[..., :kp, :kp] - q @ y
        rhs = b[..., :kp] - jnp.einsum("gbpk,gbk->gbp", q, x)
        a = jax.ops.segment_sum(schur, sub[m].parent, sub[m - 1].n)
        b = jax.ops.segment_sum(rhs, sub[m].parent, sub[m - 1].n)
    return Elimination(h, lows, xs, ys)


def newton_direction(elim: Elimination, sub: list[Level]) -> list:
    """The Newton step for every level's effects, by back-substitution top-down."""
    deltas = [elim.x[0]]
    for m in range(1, len(sub)):
        anc = jnp.concatenate([deltas[a][_ancestor(sub, m, a)] for a in range(m)], axis=-1)
        deltas.append(elim.x[m] - jnp.einsum("gbkp,gbp->gbk", elim.y[m], anc))
    return deltas


def _subtree_values(us, eta_off, sub: list[Level], data: dict, aux, family):
    """h = Σ log p − ½Σ|u|² per top group of ``sub``: (G_0, B)."""
    ll = log_density(family, _linear(eta_off, sub, us), broadcast_data(data, 1), aux)
    h = jax.ops.segment_sum(ll, sub[0].group, sub[0].n)
    for m, u in enumerate(us):
        h = h - 0.5 * _to_top(jnp.sum(u**2, axis=-1), sub, m)
    return h


def _step(us, deltas, alpha, sub: list[Level]) -> list:
    """u + α·δ with one step size α (G_0, B) per subtree."""
    return [u + (alpha[_ancestor(sub, m, 0)] if m else alpha)[..., None] * d
            for m, (u, d) in enumerate(zip(us, deltas))]


def joint_modes(eta_off, sub: list[Level], data: dict, aux, family, start=None) -> list:
    """Effects of every level maximising h given η_off, by the shared damped Newton search
    (:mod:`.newton`; one step size per subtree). ``start``: per level (zeros when None)."""
    eta_off, aux = jax.lax.stop_gradient(eta_off), jax.lax.stop_gradient(aux)
    sub = [lv._replace(zl=jax.lax.stop_gradient(lv.zl)) for lv in sub]
    batch = eta_off.shape[1]

    def direction(us):
        elim = eliminate(us, eta_off, sub, data, aux, family)
        return elim.h, newton_direction(elim, sub)

    def values(us):
        return _subtree_values(us, eta_off, sub, data, aux, family)

    def step(us, deltas, alpha):
        return _step(us, deltas, alpha, sub)

    if start is None:
        start = [jnp.zeros((lv.n, batch, lv.k), dtype=eta_off.dtype) for lv in sub]
    return newton.maximise(start, direction, values, step)


def differentiable_modes(eta_off, sub: list[Level], data: dict, aux, family, order: int,
                         start=None) -> list:
    """Joint modes with exact derivatives up to ``order``: that many Newton steps in the graph."""
    us = jax.lax.stop_gradient(joint_modes(eta_off, sub, data, aux, family, start))
    for _ in range(order):
        elim = eliminate(us, eta_off, sub, data, aux, family)
        us = [u + d for u, d in zip(us, newton_direction(elim, sub))]
    return us


# ---- recursive quadrature ----------------------------------------------------------------------
def _warm_start(nodes, modes: list, elim: Elimination, sub: list[Level]) -> list:
    """Starting values (G_m, B, M, k) of the lower levels' modes at every node (G, B, M, k)
    of the top one.

    Moving the top effects by d moves the others' joint mode by −y·d to first
    order (the back-substitution of the elimination with a zero gradient).
    """
    deltas, starts = [nodes - modes[0][..., None, :]], []
    for m in range(1, len(sub)):
        anc = jnp.concatenate([deltas[a][_ancestor(sub, m, a)] for a in range(m)], axis=-1)
        deltas.append(-jnp.einsum("gbkp,gbmp->gbmk", elim.y[m], anc))
        starts.append(modes[m][..., None, :] + deltas[-1])  # (G_m, B, M, k)
    return jax.lax.stop_gradient(starts)


CHUNK_ELEMENTS = 2**22  # rows × bottom nodes evaluated at once (32 MB a float64 array)
KEPT_ELEMENTS = 2**25  # at order 0, rows × bottom nodes up to which every chunk's residuals
# (one array of that size: only the last pass is differentiated) are kept, not recomputed


def points_below(depth: int, levels: list[Level], nodes: int) -> int:
    """Grid points per row of the integrals at ``depth`` and below: Π_{l ≥ depth} nodes^k_l."""
    total = 1
    for lv in levels[depth:]:
        total *= nodes**lv.k
    return total


def grid_points(arrays: dict, nodes: int) -> int:
    """Nodes per row of the whole recursive grid, from the engine's arrays (shapes only)."""
    total = 1
    for lv in arrays["levels"]:
        total *= nodes ** lv["cols"].shape[0]
    return total


def node_chunk(rows: int, batch: int, m: int, below: int) -> int:
    """How many of a level's m nodes to integrate below at once: all when rows × batch × m ×
    below fits :data:`CHUNK_ELEMENTS`, else the largest divisor of m that does (at least 1)."""
    fits = max(1, CHUNK_ELEMENTS // max(1, rows * batch * below))
    return max(c for c in range(1, m + 1) if m % c == 0 and c <= fits)


def _children(depth: int, eta, warm, levels: list[Level], data: dict, aux,
              model: GlmmStructure, order: int):
    """Σ over each level-``depth`` group's children of their log integrals: (G, B, M).

    ``eta`` (N, B, M) is the linear predictor at this level's nodes. The nodes are
    integrated below in chunks (:func:`node_chunk`), each one checkpointed, so that
    memory holds one chunk's rows × nodes of the levels below — not the product over all
    levels — in the value and in its reverse-mode derivative alike. At order 0 a
    derivative keeps one array of rows × nodes (:data:`KEPT_ELEMENTS`) rather than
    recompute every chunk's Newton searches and passes.
    """
    lv, child_lv = levels[depth], levels[depth + 1]
    n, b, m = eta.shape
    chunk = node_chunk(n, b, m, points_below(depth + 1, levels, model.nodes))

    def integrate(eta_c, warm_c):
        c = eta_c.shape[-1]
        starts = None if warm_c is None else [w.reshape(w.shape[0], b * c, w.shape[-1])
                                               for w in warm_c]
        child = level_integrals(depth + 1, eta_c.reshape(n, b * c), levels, data, aux, model,
                                order, starts)
        if child_lv.weight is not None:
            child = child_lv.weight[:, None] * child
        return jax.ops.segment_sum(child, child_lv.parent, lv.n).reshape(-1, b, c)

    if chunk == m:
        return integrate(eta, warm)
    k = m // chunk
    eta_chunks = jnp.moveaxis(eta.reshape(n, b, k, chunk), 2, 0)
    warm_chunks = None if warm is None else [
        jnp.moveaxis(w.reshape(w.shape[0], b, k, chunk, w.shape[-1]), 2, 0) for w in warm]

    def body(xs):
        return integrate(*xs)

    kept = order == 0 and n * b * m * points_below(depth + 1, levels, model.nodes) <= KEPT_ELEMENTS
    out = jax.lax.map(body if kept else jax.checkpoint(body), (eta_chunks, warm_chunks))
    return jnp.moveaxis(out, 0, 2).reshape(lv.n, b, m)


def _frozen(eta_off, levels: list[Level], aux):
    """The inputs with no derivative: what the grid's adaptation is computed from at order 0."""
    stop = jax.lax.stop_gradient
    return stop(eta_off), [lv._replace(zl=stop(lv.zl)) for lv in levels], stop(aux)


def _quadrature(depth: int, grid, eta_off, levels: list[Level], data: dict, aux,
                model: GlmmStructure, order: int, modes, elim):
    """One pass of level ``depth``'s rule on ``grid`` = (μ, C, log|C|): (log integrals (G, B),
    log integrand at the nodes (G, B, M), the nodes u (G, B, M, k))."""
    lv, sub = levels[depth], levels[depth:]
    mu, scale, log_det_scale = grid
    xi, log_w = (jnp.asarray(a) for a in product_grid(model.nodes, lv.k))
    fixed = jnp.sum(xi**2, axis=-1) + log_w - 0.5 * lv.k * LOG_PI
    u = mu[..., None, :] + SQRT2 * jnp.einsum("gbij,mj->gbmi", scale, xi)  # (G, B, M, k)
    # η at node m is η(μ) + √2·(C'z)·ξ_m: (N, B, k) gathers, not the (N, B, M, k) nodes
    centre = eta_off + jnp.einsum("nk,nbk->nb", lv.zl, mu[lv.group])
    spread = jnp.einsum("nk,nbkj->nbj", lv.zl, scale[lv.group])
    eta = centre[..., None] + SQRT2 * jnp.einsum("nbj,mj->nbm", spread, xi)
    if depth == len(levels) - 1:
        ll = log_density(model.family, eta, broadcast_data(data, 2), aux)
        inner = jax.ops.segment_sum(ll, lv.group, lv.n)
    else:
        warm = None if modes is None else _warm_start(u, modes, elim, sub)
        inner = _children(depth, eta, warm, levels, data, aux, model, order)
    log_f = inner - 0.5 * jnp.sum(u**2, axis=-1) + fixed
    return log_det_scale + logsumexp(log_f, axis=-1), log_f, u


def _moment_grid(log_f, u):
    """The grid (μ, C, log|C|) at the posterior mean and covariance computed on the nodes."""
    mean, cov = posterior_moments_at_nodes(log_f, u)
    factor = small.cholesky(cov + 1e-12 * jnp.eye(u.shape[-1]))
    return mean, factor, jnp.sum(jnp.log(jnp.diagonal(factor, axis1=-2, axis2=-1)), axis=-1)


def level_integrals(depth: int, eta_off, levels: list[Level], data: dict, aux,
                    model: GlmmStructure, order: int = 2, start=None):
    """log of every level-``depth`` integral given its ancestors' nodes: (G_depth, B).

    ``start``: starting values of the modes of levels ``depth`` and below. ``order`` 0
    holds every grid's adaptation fixed in the derivative (see :func:`nested_cluster_logliks`).
    """
    lv, sub = levels[depth], levels[depth:]
    shape = (lv.n, eta_off.shape[1])
    if model.method == "ghq":  # the standard-normal grid: nothing to adapt
        grid = (jnp.zeros(shape + (lv.k,)), jnp.broadcast_to(jnp.eye(lv.k), shape + (lv.k, lv.k)),
                jnp.zeros(shape))
        return _quadrature(depth, grid, eta_off, levels, data, aux, model, order, None, None)[0]
    if order == 0:
        return _fixed_grid_integrals(depth, eta_off, levels, data, aux, model, start)
    modes = differentiable_modes(eta_off, sub, data, aux, model.family, order, start)
    elim = eliminate(modes, eta_off, sub, data, aux, model.family)
    grid = (modes[0], *curvature_scale(elim.low[0]))

    def quadrature(grid):
        return _quadrature(depth, grid, eta_off, levels, data, aux, model, order, modes, elim)

    if model.method == "mcaghq" or model.nodes == 1:
        return quadrature(grid)[0]

    def update(carry, _):
        value, log_f, u = quadrature(carry)
        return _moment_grid(log_f, u), value

    _, values = jax.lax.scan(update, grid, None, length=MV_UPDATES + 1)
    return values[-1]


def _fixed_grid_integrals(depth: int, eta_off, levels: list[Level], data: dict, aux,
                          model: GlmmStructure, start):
    """:func:`level_integrals` whose grids (modes, curvatures, mean-variance moves) are
    computed without derivatives; only the last pass on the final grid is differentiated."""
    f_eta, f_levels, f_aux = _frozen(eta_off, levels, aux)
    modes = joint_modes(f_eta, f_levels[depth:], data, f_aux, model.family, start)
    elim = eliminate(modes, f_eta, f_levels[depth:], data, f_aux, model.family)
    grid = (modes[0], *curvature_scale(elim.low[0]))
    if model.method == "mvaghq" and model.nodes > 1:
        def update(carry, _):
            _, log_f, u = _quadrature(depth, carry, f_eta, f_levels, data, f_aux, model, 0,
                                      modes, elim)
            return _moment_grid(log_f, u), None

        grid, _ = jax.lax.scan(update, grid, None, length=MV_UPDATES)
    grid = jax.lax.stop_gradient(grid)
    return _quadrature(depth, grid, eta_off, levels, data, aux, model, 0, modes, elim)[0]


def check_grid(model: GlmmStructure, ks: list[int]) -> None:
    """Refuse grids whose nodes per row (the product over levels) exceed MAX_GRID."""
    total = 1
    for k in ks:
        total *= model.nodes**k
    if total > MAX_GRID:
        raise ValueError(
            f"{model.nodes} points per dimension over nested levels of dimensions {ks} make "
            f"{total:,} nodes per observation; use fewer integration points or the Laplace "
            "approximation")


def nested_cluster_logliks(eta0, zl, arrays: dict, aux, model: GlmmStructure, order: int = 2):
    """The log of the recursively integrated likelihood of every top group: (G_0,).

    ``order``: the highest derivative that must be exact (Newton steps in the graph); 0:
    derivatives at fixed grids (the module's docstring).
    """
    levels = levels_from(arrays, zl)
    check_grid(model, [lv.k for lv in levels])
    return level_integrals(0, eta0[:, None], levels, arrays["data"], aux, model, order)[:, 0]
