"""Batched Cholesky factors and triangular solves for small k×k blocks.

Random-effect blocks are tiny (k is the number of effects in a term, usually
1–3) but there are thousands of them. Unrolling the k×k algorithm over the
batch turns it into a handful of fused elementwise kernels, which compile in a
fraction of the time of batched LAPACK calls and differentiate cleanly to any
order. The unrolled program grows like k³, so above ``UNROLL_MAX`` (a size that
users control: fixed effects, random coefficients, nested effects) a single
matrix goes to LAPACK and a batch of them to a scan over columns
(:mod:`mejax.linalg.batched`); neither program grows with k.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from . import batched

UNROLL_MAX = 3  # largest k written out element by element; above it, a scan over columns


def _as_batch(fn, *arrays):
    """Apply a (G, k, ·) routine of :mod:`batched` to arrays with any leading axes."""
    lead = arrays[0].shape[:-2]
    flat = [a.reshape((-1,) + a.shape[-2:]) for a in arrays]
    out = fn(*flat)
    return out.reshape(lead + out.shape[-2:])


def cholesky(m):
    """Lower Cholesky factor of a batch of symmetric positive-definite (..., k, k)."""
    k = m.shape[-1]
    if k > UNROLL_MAX and m.ndim == 2:  # one dense matrix: LAPACK, whose derivative rules
        return jnp.linalg.cholesky(m)  # are triangular solves of the same size
    if k > UNROLL_MAX:
        return _as_batch(batched.cholesky, m)
    cols: list[list] = [[None] * k for _ in range(k)]  # cols[i][j] = L[i, j]
    for j in range(k):
        diag = m[..., j, j]
        for s in range(j):
            diag = diag - cols[j][s] ** 2
        d = jnp.sqrt(diag)
        cols[j][j] = d
        for i in range(j + 1, k):
            off = m[..., i, j]
            for s in range(j):
                off = off - cols[i][s] * cols[j][s]
            cols[i][j] = off / d
    zero = jnp.zeros_like(m[..., 0, 0])
    rows = [jnp.stack([cols[i][j] if j <= i else zero for j in range(k)], axis=-1)
            for i in range(k)]
    return jnp.stack(rows, axis=-2)


def solve_lower(low, rhs):
    """Solve L X = B for a batch: ``low`` (..., k, k), ``rhs`` (..., k, m)."""
    k = low.shape[-1]
    if k > UNROLL_MAX and low.ndim == 2:
        return solve_triangular(low, rhs, lower=True)
    if k > UNROLL_MAX:
        lead = jnp.broadcast_shapes(low.shape[:-2], rhs.shape[:-2])
        low = jnp.broadcast_to(low, lead + low.shape[-2:])
        rhs = jnp.broadcast_to(rhs, lead + rhs.shape[-2:])
        return _as_batch(batched.solve_lower, low, rhs)
    rows = []
    for i in range(k):
        acc = rhs[..., i, :]
        for s in range(i):
            acc = acc - low[..., i, s, None] * rows[s]
        rows.append(acc / low[..., i, i, None])
    return jnp.stack(rows, axis=-2)


def log_det(low):
    """log|L L'| from a batch of lower factors, summed over the batch."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(low, axis1=-2, axis2=-1)))


def cho_solve(low, rhs):
    """(L L')⁻¹ B for a batch: ``low`` (..., k, k), ``rhs`` (..., k, m)."""
    y = solve_lower(low, rhs)
    flipped = jnp.flip(jnp.swapaxes(low, -1, -2), axis=(-2, -1))  # L' reversed: lower
    return jnp.flip(solve_lower(flipped, jnp.flip(y, axis=-2)), axis=-2)
