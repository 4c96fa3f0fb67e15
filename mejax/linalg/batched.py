"""Batched Cholesky factor and forward substitution written as a scan over columns.

Residual structures need one M×M factorization per group, thousands of them.
The loop runs over the M columns and each step is an elementwise update of the
whole batch, so the work is G·M³ in a few fused kernels and every derivative
order is plain XLA. (jaxlib 0.10's batched LAPACK kernels deadlock under
second derivatives once the batch reaches about a thousand matrices, which the
Hessian of the log likelihood needs.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cholesky(a):
    """Lower Cholesky factor of a batch (G, M, M) of symmetric positive-definite matrices."""
    m = a.shape[-1]
    index = jnp.arange(m)

    def step(rest, j):
        pivot = jnp.sqrt(rest[:, j, j])
        col = jnp.where(index[None, :] >= j, rest[:, :, j] / pivot[:, None], 0.0)
        return rest - col[:, :, None] * col[:, None, :], col

    _, cols = jax.lax.scan(step, a, index)  # cols[j, g, i] = L[g, i, j]
    return jnp.transpose(cols, (1, 2, 0))


def solve_lower(low, rhs):
    """Solve L X = B for a batch: ``low`` (G, M, M) lower, ``rhs`` (G, M, K)."""
    m = low.shape[-1]
    index = jnp.arange(m)

    def step(rest, i):
        x_i = rest[:, i, :] / low[:, i, i][:, None]
        below = jnp.where(index[None, :] > i, low[:, :, i], 0.0)
        return rest - below[:, :, None] * x_i[:, None, :], x_i

    _, rows = jax.lax.scan(step, rhs, index)  # rows[i, g, k] = X[g, i, k]
    return jnp.transpose(rows, (1, 0, 2))
