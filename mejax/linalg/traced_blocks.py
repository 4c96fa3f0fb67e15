"""Cross-product blocks of [Z X y] summed from row data inside traced code.

:mod:`mejax.linalg.blocks` builds the blocks on the host. The same sums written
as segment sums over rows let the blocks follow traced data: a stack of
responses (batch fits), differentiation with respect to y, X, Z or weights
(:mod:`mejax.functional`), and row shards on several devices
(:mod:`mejax.parallel`). Every block is linear in the row products, so a sum
over row shards equals the block of all rows.

Host side: :func:`row_structure` gives the static layout, the per-row index
arrays and the code-only index arrays of the sparse blocks. Traced side:
:func:`row_sums` (the additive part) and :func:`response_blocks` (only the
y-dependent parts, for many responses on one design).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .blocks import BlockLayout, block_layout, rest_columns, sparse_structure


def row_structure(codes: list[np.ndarray], zs: list[np.ndarray], n_levels: list[int],
                  p: int) -> tuple[BlockLayout, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Layout, per-row index arrays and code-only block index arrays.

    Terms sorted largest first as in :func:`mejax.linalg.blocks.crossprod_blocks`.
    Per-row: ``c1`` (first-term level), and with a dense block ``cols`` (n, r)
    with each row's dense-block columns and ``pair_t`` (its sparse block of
    term t). The row values (z, [X y], weights) are supplied when summing.
    """
    layout = block_layout([z.shape[1] for z in zs], n_levels, p)
    per_row = {"c1": np.asarray(codes[0], dtype=np.int32)}
    index: dict[str, np.ndarray] = {}
    if layout.q2:
        cols, _ = rest_columns(codes, zs, list(layout.rest))
        per_row["cols"] = cols.astype(np.int32)
        index, pair_rows = sparse_structure(codes, zs[0].shape[1], list(layout.rest), layout.q2)
        for t, inv in enumerate(pair_rows, start=1):
            per_row[f"pair_{t}"] = inv.astype(np.int32)
    return layout, per_row, index


def rest_values(zs: list[np.ndarray]) -> np.ndarray:
    """Per row, the values that go with :func:`row_structure`'s ``cols`` (n, r)."""
    return np.concatenate([np.asarray(z) for z in zs[1:]], axis=1)


def row_sums(z1, zr, xy, w, rows: dict, layout: BlockLayout, n_blocks: tuple[int, ...]) -> dict:
    """The additive blocks a11, a1x, axx (and a22, a2x, b21_t) from row data (traced, pure).

    ``z1`` (n, k1) first term, ``zr`` (n, r) the other terms' values in
    ``rows["cols"]`` order (:func:`rest_values`), ``xy`` (n, p+1), ``w`` (n,) row
    weights; ``n_blocks[t-1]`` is the padded number of sparse blocks of term t
    (static: the length of ``b21_level1_t``).
    """
    n1 = layout.first.n_levels
    wz1 = z1 * w[:, None]
    out = {
        "a11": jax.ops.segment_sum(wz1[:, :, None] * z1[:, None, :], rows["c1"], n1),
        "a1x": jax.ops.segment_sum(wz1[:, :, None] * xy[:, None, :], rows["c1"], n1),
        "axx": (xy * w[:, None]).T @ xy,
    }
    if layout.q2:
        q2 = layout.q2
        cols = rows["cols"]
        wzr = zr * w[:, None]
        flat = (cols[:, :, None] * q2 + cols[:, None, :]).reshape(-1)
        a22 = jax.ops.segment_sum((wzr[:, :, None] * zr[:, None, :]).reshape(-1), flat, q2 * q2)
        out["a22"] = a22.reshape(q2, q2)
        products = (wzr[:, :, None] * xy[:, None, :]).reshape(-1, xy.shape[1])
        out["a2x"] = jax.ops.segment_sum(products, cols.reshape(-1), q2)
        start = 0
        for t, lay in enumerate(layout.rest, start=1):
            wzt = wzr[:, start : start + lay.k]
            start += lay.k
            out[f"b21_{t}"] = jax.ops.segment_sum(
                wzt[:, :, None] * z1[:, None, :], rows[f"pair_{t}"], n_blocks[t - 1])
    return out


def response_blocks(arrays: dict, y, rows: dict, layout: BlockLayout) -> dict:
    """``arrays`` with the y parts of a1x, a2x and axx recomputed for response ``y`` (traced).

    Those parts are the last column of a1x/a2x and the last row and column of
    axx; they are linear in y, so many responses share one design's other
    blocks. ``rows`` holds ``c1``, ``z1``, ``x`` and, with a dense block,
    ``cols``/``zr``; under a residual structure ``r_index`` instead (the whitened
    blocks are rebuilt from ``r_data`` on every evaluation).
    """
    out = dict(arrays)
    if "r_index" in rows:
        data = jnp.asarray(arrays["r_data"])
        out["r_data"] = data.at[:, :, -1].set(y[rows["r_index"]] * arrays["r_mask"])
        return out
    n1 = layout.first.n_levels
    a1y = jax.ops.segment_sum(rows["z1"] * y[:, None], rows["c1"], n1)
    out["a1x"] = jnp.asarray(arrays["a1x"]).at[:, :, -1].set(a1y)
    column = jnp.concatenate([rows["x"].T @ y, (y @ y)[None]])
    out["axx"] = jnp.asarray(arrays["axx"]).at[-1, :].set(column).at[:, -1].set(column)
    if layout.q2:
        a2y = jax.ops.segment_sum((rows["zr"] * y[:, None]).reshape(-1),
                                  rows["cols"].reshape(-1), layout.q2)
        out["a2x"] = jnp.asarray(arrays["a2x"]).at[:, -1].set(a2y)
    return out
