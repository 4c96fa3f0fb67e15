"""Cross-product blocks of [Z X y] for the profiled linear mixed model.

Host side (numpy). The random-effect terms are ordered by number of levels,
largest first (DESIGN.md §3). The first term's block of Z'Z is block diagonal
(one k×k block per level); all other terms form one dense block of size q2.
The off-diagonal block between them is sparse and kept as a list of k_t×k_1
blocks, one per (level of the first term, level of term t) pair that occurs in
the data. Every array is padded to a shape bucket so that similar data sets
reuse compiled code; padding contributes exact zeros.

No n×n matrix and no dense matrix over all random-effect levels is formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def bucket(n: int, minimum: int = 8) -> int:
    """Round ``n`` up to the next size in 8, 12, 16, 24, 32, 48, ... (2^m or 1.5·2^m)."""
    size = minimum
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size // 3 * 4
    return size


def _dense_bucket(n: int) -> int:
    """Dense-block size: small sizes in buckets, large ones to a multiple of 32.

    Padding a dense block costs cubic work in its Cholesky, so it stays tight.
    """
    if n == 0:
        return 0
    return bucket(n) if n <= 64 else -(-n // 32) * 32


def group_sum(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum rows of ``values`` (n, ...) by integer ``codes``; bincount is far faster than add.at."""
    flat = values.reshape(len(codes), -1)
    out = np.empty((n_groups, flat.shape[1]))
    for j in range(flat.shape[1]):
        out[:, j] = np.bincount(codes, weights=flat[:, j], minlength=n_groups)
    return out.reshape((n_groups,) + values.shape[1:])


def _pad(a: np.ndarray, length: int, axis: int = 0, value=0) -> np.ndarray:
    extra = length - a.shape[axis]
    if extra <= 0:
        return a
    widths = [(0, 0)] * a.ndim
    widths[axis] = (0, extra)
    return np.pad(a, widths, constant_values=value)


@dataclass(frozen=True)
class TermLayout:
    """Static shape facts about one random-effect term (hashable for jit)."""

    k: int
    n_levels: int
    offset: int  # column offset inside the dense block (rest terms only)


@dataclass(frozen=True)
class BlockLayout:
    """Static structure of the blocks: what the traced code needs to know."""

    first: TermLayout
    rest: tuple[TermLayout, ...]
    q2: int  # padded size of the dense block
    p: int  # number of fixed effects


def crossprod_blocks(
    codes: list[np.ndarray],
    zs: list[np.ndarray],
    xy: np.ndarray,
    n_levels: list[int],
) -> tuple[BlockLayout, dict[str, np.ndarray]]:
    """Cross-product blocks for terms already sorted largest first.

    ``codes[t]`` are level codes (n,), ``zs[t]`` the term's model matrix (n, k_t),
    ``xy`` is [X y] (n, p+1). Returns the static layout and the numeric arrays.
    """
    c1, z1 = codes[0], zs[0]
    layout = block_layout([z.shape[1] for z in zs], n_levels, xy.shape[1] - 1)
    L1 = layout.first.n_levels
    a11 = group_sum(c1, z1[:, :, None] * z1[:, None, :], L1)
    a1x = group_sum(c1, z1[:, :, None] * xy[:, None, :], L1)
    axx = xy.T @ xy
    arrays: dict[str, np.ndarray] = {"a11": a11, "a1x": a1x, "axx": axx}
    if layout.q2:
        _dense_rest(arrays, codes, zs, xy, list(layout.rest), layout.q2)
        _sparse_between(arrays, codes, zs, list(layout.rest))
    return layout, arrays


def block_layout(ks: list[int], n_levels: list[int], p: int) -> BlockLayout:
    """The static layout for terms (sorted largest first) with ``ks[t]`` effects each."""
    rest_layout = []
    offset = 0
    for t in range(1, len(ks)):
        rest_layout.append(TermLayout(k=ks[t], n_levels=int(n_levels[t]), offset=offset))
        offset += ks[t] * n_levels[t]
    return BlockLayout(
        # the first term's padded level count: the exact count is not needed when
        # traced, and leaving it out lets similar data sets share compiled code
        first=TermLayout(k=ks[0], n_levels=bucket(n_levels[0]), offset=0),
        rest=tuple(rest_layout),
        q2=_dense_bucket(offset),
        p=p,
    )


def rest_columns(codes, zs, rest_layout):
    """Per row, the dense-block columns and values of every rest term."""
    cols, vals = [], []
    for t, lay in enumerate(rest_layout, start=1):
        base = lay.offset + codes[t] * lay.k
        for a in range(lay.k):
            cols.append(base + a)
            vals.append(zs[t][:, a])
    return np.stack(cols, axis=1), np.stack(vals, axis=1)


def _dense_rest(arrays, codes, zs, xy, rest_layout, q2):
    cols, vals = rest_columns(codes, zs, rest_layout)
    idx = (cols[:, :, None] * q2 + cols[:, None, :]).reshape(-1)
    a22 = np.bincount(idx, weights=(vals[:, :, None] * vals[:, None, :]).reshape(-1),
                      minlength=q2 * q2)
    arrays["a22"] = a22.reshape(q2, q2)
    products = (vals[:, :, None] * xy[:, None, :]).reshape(-1, xy.shape[1])
    arrays["a2x"] = group_sum(cols.reshape(-1), products, q2)


def _sparse_between(arrays, codes, zs, rest_layout):
    """Sparse Z_t'Z_1 blocks (values) and their index arrays (:func:`sparse_structure`)."""
    z1 = zs[0]
    index, pair_rows = sparse_structure(codes, z1.shape[1], rest_layout, arrays["a22"].shape[0])
    arrays.update(index)
    for t in range(1, len(rest_layout) + 1):
        nb = index[f"b21_level1_{t}"].shape[0]
        arrays[f"b21_{t}"] = group_sum(pair_rows[t - 1], zs[t][:, :, None] * z1[:, None, :], nb)


def sparse_structure(codes, k1: int, rest_layout, q2: int):
    """Index arrays of the sparse Z_t'Z_1 blocks and the lower-triangle pair lists.

    Returns the index arrays and, per rest term, each row's block number (its
    (first-term level, term-t level) pair). Entries of L21 are flattened to
    scalars e with a dense-block row r_e and a first-block column key (level
    j_e, component b_e). The Schur complement subtracts v_e1·v_e2 at (r_e1, r_e2)
    for every pair with the same key. Depends on the level codes only.
    """
    c1 = codes[0]
    arrays: dict[str, np.ndarray] = {}
    pair_rows = []
    entry_rows, entry_keys = [], []
    for t, lay in enumerate(rest_layout, start=1):
        uniq, inv = pair_index(c1, codes[t], lay.n_levels)
        pair_rows.append(inv)
        nb = bucket(len(uniq))
        j = _pad(uniq // lay.n_levels, nb)
        level = _pad(uniq % lay.n_levels, nb)
        arrays[f"b21_level1_{t}"] = j.astype(np.int32)
        # flattened entry order is (block, b, a): matches C_t[u, b, a] in the traced code
        u_valid = np.arange(nb) < len(uniq)
        rows = lay.offset + level[:, None, None] * lay.k + np.arange(lay.k)[None, None, :]
        rows = np.broadcast_to(rows, (nb, k1, lay.k))
        key = j[:, None, None] * k1 + np.arange(k1)[None, :, None]
        keys = np.broadcast_to(key, (nb, k1, lay.k))
        valid = np.broadcast_to(u_valid[:, None, None], (nb, k1, lay.k))
        entry_rows.append(np.where(valid, rows, -1).reshape(-1))
        entry_keys.append(np.where(valid, keys, -1).reshape(-1))
    rows = np.concatenate(entry_rows)
    keys = np.concatenate(entry_keys)
    arrays["entry_row"] = np.maximum(rows, 0).astype(np.int32)
    arrays["entry_level1"] = (np.maximum(keys, 0) // k1).astype(np.int32)
    arrays["entry_comp1"] = (np.maximum(keys, 0) % k1).astype(np.int32)
    e1, e2 = _same_key_pairs(keys)
    r1, r2 = rows[e1], rows[e2]
    lo_first = r1 >= r2
    target_r = np.where(lo_first, r1, r2)
    target_c = np.where(lo_first, r2, r1)
    # sorted by target position: the scatter into the dense block then writes in order
    by_target = np.argsort(target_r.astype(np.int64) * q2 + target_c, kind="stable")
    n_pairs = len(e1)
    npad = bucket(n_pairs)
    # padded pairs point past the last position and carry weight zero
    arrays["pair_e1"] = _pad(e1[by_target], npad).astype(np.int32)
    arrays["pair_e2"] = _pad(e2[by_target], npad).astype(np.int32)
    arrays["pair_row"] = _pad(target_r[by_target], npad, value=q2 - 1).astype(np.int32)
    arrays["pair_col"] = _pad(target_c[by_target], npad, value=q2 - 1).astype(np.int32)
    arrays["pair_valid"] = (np.arange(npad) < n_pairs).astype(np.float64)
    return arrays, pair_rows


def pair_index(c1: np.ndarray, ct: np.ndarray, n_levels_t: int):
    """Distinct (first-term level, term-t level) pairs and each row's pair number."""
    pair = c1.astype(np.int64) * n_levels_t + ct
    uniq, inv = np.unique(pair, return_inverse=True)
    return uniq, inv.reshape(-1)


def _same_key_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (e1, e2) with e2 <= e1 in sorted order and keys[e1] == keys[e2] >= 0."""
    valid = np.flatnonzero(keys >= 0)
    order = valid[np.argsort(keys[valid], kind="stable")]
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    local = np.arange(len(order)) - np.repeat(starts, sizes)
    count = local + 1  # entry i pairs with local positions 0..i
    first_pos = np.repeat(np.arange(len(order)), count)
    offsets = np.repeat(np.cumsum(count) - count, count)
    second_local = np.arange(count.sum()) - offsets
    group_start = np.repeat(np.repeat(starts, sizes), count)
    e1 = order[first_pos]
    e2 = order[group_start + second_local]
    return e1, e2
