"""Nonlinear mixed-effects predictor: the mean f(β, b) and its linearisation (pure, traced).

The mean is any JAX function ``mean(params, data) -> (n,)``. ``params`` maps each
fixed parameter's name to a scalar and each random effect's name to its per-row
value (the effect of the row's group at that effect's level); ``data`` maps column
names to row arrays. Random effects enter only through their own rows, so the
loadings ∂f_i/∂b of one effect column are a single forward-mode derivative
(a jvp with every group's effect moved together): no n × groups Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ..cov.residual import ResidualStructure
from ..cov.structures import CovStructure
from ..cov.variance import VarianceFunction
from ..linalg.blocks import BlockLayout


@dataclass(frozen=True)
class NonlinearStructure:
    """Static description of a nonlinear mixed model (hashable: a jit static argument).

    ``levels`` are in the engine's block order (most groups first); ``effects[l]``
    names the random effects of level ``l`` in column order. ``residual`` is the
    within-group correlation of the errors (``mixed``'s residual structures).
    """

    mean: Callable
    fixed: tuple[str, ...]
    effects: tuple[tuple[str, ...], ...]
    n_groups: tuple[int, ...]
    structures: tuple[CovStructure, ...]
    layout: BlockLayout
    n_blocks: tuple[int, ...]
    variance: VarianceFunction
    reml: bool
    residual: ResidualStructure | None = None  # correlation within the lowest-level groups

    @property
    def p(self) -> int:
        return len(self.fixed)

    def n_theta(self) -> int:
        """Covariance parameters θ: every level's, then the residual correlation's η."""
        return sum(s.n_theta() for s in self.structures) + \
            (self.residual.n_params() if self.residual is not None else 0)


def row_params(beta, rows, model: NonlinearStructure) -> dict:
    """The ``params`` a mean function sees: fixed scalars and per-row random effects.

    ``rows[l]`` holds level ``l``'s effects at every row (n × effects of that level).
    """
    params = {name: beta[i] for i, name in enumerate(model.fixed)}
    for level, names in enumerate(model.effects):
        for j, name in enumerate(names):
            params[name] = rows[level][:, j]
    return params


def effect_rows(bs, codes) -> list:
    """Each level's effects at every row: b_l[group of the row]."""
    return [b[c] for b, c in zip(bs, codes)]


def mean(beta, bs, codes, data, model: NonlinearStructure):
    """f(β, b) at every row."""
    return model.mean(row_params(beta, effect_rows(bs, codes), model), data)


def linearize(beta, bs, codes, data, model: NonlinearStructure):
    """(f, X = ∂f/∂β, [Z_l = ∂f/∂b_l per level]) at (β, b): the Lindstrom–Bates linearisation.

    One linearisation of the mean in (β, per-row effects), pushed along p + Σ k_l
    directions at once (unit vectors in β, then one effect column of every row): the mean
    is traced once whatever the number of parameters.
    """
    rows = effect_rows(bs, codes)

    def f(b, r):
        return model.mean(row_params(b, r, model), data)

    fitted, push = jax.linearize(f, beta, rows)
    p, sizes = beta.shape[0], [r.shape[1] for r in rows]
    dirs_beta = [jnp.eye(p)] + [jnp.zeros((k, p)) for k in sizes]
    dirs_rows = []
    for level, r in enumerate(rows):
        block = [jnp.zeros((p,) + r.shape)]
        for other, k in enumerate(sizes):
            eye = jnp.eye(k)[:, None, :] if other == level else jnp.zeros((k, 1, r.shape[1]))
            block.append(jnp.broadcast_to(eye, (k,) + r.shape))
        dirs_rows.append(jnp.concatenate(block, axis=0))
    jac = jax.vmap(push)(jnp.concatenate(dirs_beta, axis=0), dirs_rows)  # (p + Σk, n)
    x = jac[:p].T
    zs, start = [], p
    for k in sizes:
        zs.append(jac[start:start + k].T)
        start += k
    return fitted, x, zs
