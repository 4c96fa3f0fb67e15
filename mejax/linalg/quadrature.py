"""Gauss–Hermite rules, their product grids and the moments of an integrand at the nodes.

The rule integrates ∫ f(x) e^{-x²} dx; numpy's ``hermgauss`` computes nodes
and weights by Golub–Welsch. A K-dimensional random effect uses the product
of K one-dimensional rules (Q^K nodes).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np

from . import small

MAX_GRID = 100_000


@lru_cache(maxsize=64)
def product_grid(nodes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (M, dim) and log weights (M,) of the product Gauss–Hermite rule."""
    if nodes < 1:
        raise ValueError("the number of integration points must be at least 1")
    if nodes**dim > MAX_GRID:
        raise ValueError(
            f"{nodes} points in {dim} dimensions make {nodes**dim:,} nodes; use fewer "
            "integration points or the Laplace approximation"
        )
    x, w = np.polynomial.hermite.hermgauss(nodes)
    grid = np.array(list(product(range(nodes), repeat=dim)), dtype=np.int64).reshape(-1, dim)
    return x[grid], np.log(w)[grid].sum(axis=1)


def posterior_moments_at_nodes(log_f, u):
    """Posterior mean (..., K) and covariance (..., K, K) of u from quadrature nodes.

    ``log_f`` (..., M) are the log integrand values at the nodes ``u`` (..., M, K).
    """
    w = jax.nn.softmax(log_f, axis=-1)
    mean = jnp.einsum("...m,...ma->...a", w, u)
    d = u - mean[..., None, :]
    return mean, jnp.einsum("...m,...ma,...mb->...ab", w, d, d)


def curvature_scale(low):
    """C = L'⁻¹ (so CC' = (LL')⁻¹, the inverse curvature) and log|C|, from its factor L."""
    eye = jnp.broadcast_to(jnp.eye(low.shape[-1]), low.shape)
    scale = jnp.swapaxes(small.solve_lower(low, eye), -1, -2)
    return scale, -jnp.sum(jnp.log(jnp.diagonal(low, axis1=-2, axis2=-1)), axis=-1)
