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

from ..cov.structures import CovStructure
from ..cov.variance import VarianceFunction
from ..linalg.blocks import BlockLayout


@dataclass(frozen=True)
class NonlinearStructure:
    """Static description of a nonlinear mixed model (hashable: a jit static argument).

    ``levels`` are in the engine's block order (most groups first); ``effects[l]``
    names the random effects of level ``l`` in column order.
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

    @property
    def p(self) -> int:
        return len(self.fixed)


def row_params(beta, bs, codes, model: NonlinearStructure) -> dict:
    """The ``params`` a mean function sees: fixed scalars and per-row random effects."""
    params = {name: beta[i] for i, name in enumerate(model.fixed)}
    for level, names in enumerate(model.effects):
        rows = bs[level][codes[level]]
        for j, name in enumerate(names):
            params[name] = rows[:, j]
    return params


def mean(beta, bs, codes, data, model: NonlinearStructure):
    """f(β, b) at every row."""
    return model.mean(row_params(beta, bs, codes, model), data)


def linearize(beta, bs, codes, data, model: NonlinearStructure):
    """(f, X = ∂f/∂β, [Z_l = ∂f/∂b_l per level]) at (β, b): the Lindstrom–Bates linearisation."""
    def f_beta(b):
        return mean(b, bs, codes, data, model)

    def f_level(level, value):
        return mean(beta, [value if i == level else b for i, b in enumerate(bs)], codes, data,
                    model)

    fitted = f_beta(beta)
    x = jax.jacfwd(f_beta)(beta)
    zs = []
    for level, b in enumerate(bs):
        cols = []
        for j in range(b.shape[1]):
            tangent = jnp.zeros_like(b).at[:, j].set(1.0)
            cols.append(jax.jvp(lambda v, lv=level: f_level(lv, v), (b,), (tangent,))[1])
        zs.append(jnp.stack(cols, axis=1))
    return fitted, x, zs
