"""Gauss–Hermite rules and their product grids (host side, numpy).

The rule integrates ∫ f(x) e^{-x²} dx; numpy's ``hermgauss`` computes nodes
and weights by Golub–Welsch. A K-dimensional random effect uses the product
of K one-dimensional rules (Q^K nodes).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

import numpy as np

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
