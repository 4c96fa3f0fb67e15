"""Blocked Cholesky factor of Λ'[Z X y]'[Z X y]Λ + I (traced side, pure).

Given the relative covariance factors Λ_t and the blocks of
:mod:`mejax.linalg.blocks`, returns log|L_Z|² and the Cholesky factor of the
[X y] block after eliminating the random effects. The first term is factored
per level with a vmapped k×k Cholesky; the remaining terms form one dense
block whose Schur complement is updated by a scatter over the sparse pairs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import small
from .blocks import BlockLayout
from .dense import logdet_and_form


def _scale_columns(m, lams_rest, layout: BlockLayout):
    """M Λ_2 where Λ_2 is block diagonal over the dense-block terms."""
    pieces = []
    for lam, term in zip(lams_rest, layout.rest):
        width = term.n_levels * term.k
        block = m[:, term.offset : term.offset + width].reshape(m.shape[0], term.n_levels, term.k)
        pieces.append(jnp.einsum("mla,ab->mlb", block, lam).reshape(m.shape[0], width))
    used = sum(t.n_levels * t.k for t in layout.rest)
    pieces.append(m[:, used:])
    return jnp.concatenate(pieces, axis=1)


def factor(lams, arrays, layout: BlockLayout):
    """Return (log|L_Z|², L_XX) for relative factors ``lams`` (first term first)."""
    lam1 = lams[0]
    k1 = layout.first.k
    a11 = arrays["a11"]
    m11 = jnp.einsum("ba,jbc,cd->jad", lam1, a11, lam1) + jnp.eye(k1)
    l11 = small.cholesky(m11)
    log_det = small.log_det(l11)
    c1 = small.solve_lower(l11, jnp.einsum("ba,jbp->jap", lam1, arrays["a1x"]))
    axx = arrays["axx"] - jnp.einsum("jbp,jbq->pq", c1, c1)
    if layout.q2:
        lams_rest = lams[1:]
        a22 = _scale_columns(_scale_columns(arrays["a22"], lams_rest, layout).T, lams_rest, layout)
        a2x = _scale_columns(arrays["a2x"].T, lams_rest, layout).T
        values = []
        for t, lam in enumerate(lams_rest, start=1):
            b = jnp.einsum("ak,nab,bc->nkc", lam, arrays[f"b21_{t}"], lam1)
            low = l11[arrays[f"b21_level1_{t}"]]
            c = small.solve_lower(low, jnp.swapaxes(b, 1, 2))
            values.append(c.reshape(-1))
        v = jnp.concatenate(values)
        q2 = layout.q2
        pair_v = v[arrays["pair_e1"]] * v[arrays["pair_e2"]] * arrays["pair_valid"]
        flat = arrays["pair_row"] * q2 + arrays["pair_col"]
        low_part = (
            jnp.zeros(q2 * q2, dtype=v.dtype)
            .at[flat].add(pair_v, indices_are_sorted=True, mode="promise_in_bounds")
            .reshape(q2, q2)
        )
        schur = a22 + jnp.eye(q2) - (low_part + low_part.T - jnp.diag(jnp.diagonal(low_part)))
        cross = v[:, None] * c1[arrays["entry_level1"], arrays["entry_comp1"], :]
        correction = jax.ops.segment_sum(cross, arrays["entry_row"], num_segments=q2)
        log_det_22, form = logdet_and_form(schur, a2x - correction)
        log_det = log_det + log_det_22
        axx = axx - form
    lxx = small.cholesky(axx)
    return log_det, lxx
