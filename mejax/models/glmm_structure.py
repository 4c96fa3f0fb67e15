"""The static structure of a GLMM and its flat parameter vector (pure, traced).

:class:`GlmmStructure` is the hashable description every compiled GLMM call
takes; the vector is (β, θ per term, family aux), split by :func:`split_params`.
Both integration engines (single-level and nested) build on these.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.linalg import block_diag

from ..cov.structures import CovStructure
from ..families import Family
from .integration import Integration

MV_UPDATES = 1  # mean-variance adaptation steps after the mode-curvature start: one is
# within 1e-8 of the converged log likelihood on cbpp and contraception (two: 1e-10), and
# nested levels repeat the passes (updates + 1)^levels times


@dataclass(frozen=True)
class GlmmStructure:
    """Static description of a GLMM (hashable: a jit static argument)."""

    family: Family
    n_categories: int
    structures: tuple[CovStructure, ...]  # one per random-effect term, design order
    engine: str  # "none" (no random effects), "grouped", "sparse" or "nested"
    method: str  # "laplace", "mcaghq", "mvaghq" or "ghq"
    nodes: int
    p: int
    n_units: int  # groups (grouped) or random effects q (sparse)

    @property
    def integration(self) -> Integration:
        return Integration(self.engine, self.method, self.nodes)

    @property
    def k(self) -> int:
        return sum(s.k for s in self.structures)

    def theta_sizes(self) -> list[int]:
        return [s.n_theta() for s in self.structures]

    def n_theta(self) -> int:
        return sum(self.theta_sizes())

    def n_aux(self) -> int:
        return self.family.n_aux(self.n_categories)

    def n_params(self) -> int:
        return self.p + self.n_theta() + self.n_aux()


def split_params(params, model: GlmmStructure):
    """(β, [θ_t per term], aux) from the flat parameter vector."""
    p, nt = model.p, model.n_theta()
    beta, theta, aux = params[:p], params[p : p + nt], params[p + nt :]
    thetas, start = [], 0
    for size in model.theta_sizes():
        thetas.append(theta[start : start + size])
        start += size
    return beta, thetas, aux


def relative_factor(thetas, model: GlmmStructure):
    """Block-diagonal Λ over all terms' effects (K×K)."""
    return block_diag(*[s.lam(t) for s, t in zip(model.structures, thetas)])


def random_variance(z, lam):
    """Variance of each row's random part z_i'b, b ~ N(0, ΛΛ'): |z_i'Λ|².

    The population-averaged statistics integrate this normal contribution out
    (:meth:`mejax.families.Family.mean` and ``probability`` with ``var``).
    """
    return jnp.sum((z @ lam) ** 2, axis=-1)


def broadcast_data(data: dict, extra_dims: int) -> dict:
    """Row arrays with trailing axes, to broadcast against a (rows, ...) linear predictor."""
    return {k: v.reshape(v.shape + (1,) * extra_dims) for k, v in data.items()}
