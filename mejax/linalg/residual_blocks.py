"""Cross-product blocks of the whitened data under a residual structure.

With within-group residual covariance σ²R̃_i the deviance needs the blocks of
[Z X y]'R̃⁻¹[Z X y] instead of [Z X y]'[Z X y] (DESIGN.md §3: whiten within
the lowest-level group). Each group's rows are padded to M, whitened by the
Cholesky factor of its R̃_i (a batch of M×M factorizations) and reduced to a
K×K cross product; those are summed into exactly the blocks of
:mod:`mejax.linalg.blocks`. Random-effects levels are nested above the
residual group, so every group touches one level of each term and the sparse
pattern of the blocks is the same as for the unwhitened data: the host
builds the index arrays once and only the values are recomputed per θ.
No n×n matrix is formed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from ..cov.residual import POSITION_KINDS, ResidualStructure
from . import batched
from .blocks import BlockLayout, bucket, pair_index, rest_columns

if TYPE_CHECKING:  # host-side input only; linalg imports nothing above cov
    from ..spec.residual_design import ResidualDesign


def group_rows(res: ResidualDesign) -> tuple[np.ndarray, np.ndarray]:
    """(G_padded, M) row indices of each group sorted by time, and the validity mask."""
    order = np.lexsort((res.time, res.codes))
    codes = res.codes[order]
    sizes = np.bincount(codes, minlength=res.n_groups)
    starts = np.cumsum(sizes) - sizes
    position = np.arange(len(order)) - starts[codes]
    width = int(sizes.max())
    width = width if width <= 8 else bucket(width)
    n_groups = bucket(res.n_groups)
    index = np.zeros((n_groups, width), dtype=np.int64)
    mask = np.zeros((n_groups, width))
    index[codes, position] = order
    mask[codes, position] = 1.0
    return index, mask


def residual_structure(res: ResidualDesign) -> ResidualStructure:
    spans = _group_spans(res)
    n_lags = int(spans.max()) + 1 if res.kind in ("ar", "ma", "toeplitz") else 2
    return ResidualStructure(
        kind=res.kind, order=res.order, n_by=len(res.by_labels), n_lags=n_lags,
        n_times=len(res.time_levels),
        time_labels=tuple(_time_label(t) for t in res.time_levels),
        by_labels=tuple(res.by_labels),
    )


def typical_distance(res: ResidualDesign) -> float:
    """Median gap between consecutive times within groups (start of the exponential ρ)."""
    order = np.lexsort((res.time, res.codes))
    t, g = res.time[order], res.codes[order]
    gaps = np.diff(t)[np.diff(g) == 0]
    return float(np.median(gaps)) if len(gaps) else 1.0


def _group_spans(res: ResidualDesign) -> np.ndarray:
    hi = np.full(res.n_groups, -np.inf)
    lo = np.full(res.n_groups, np.inf)
    np.maximum.at(hi, res.codes, res.time)
    np.minimum.at(lo, res.codes, res.time)
    return (hi - lo).astype(np.int64)


def _time_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def covariance_index_arrays(res: ResidualDesign, index: np.ndarray,
                            mask: np.ndarray) -> dict[str, np.ndarray]:
    """What :meth:`ResidualStructure.relative_cov` reads to build each group's full R̃_i.

    Integer lags (ar, ma, toeplitz), an off-diagonal indicator (exchangeable),
    distances (exponential) or positions among the distinct times (unstructured,
    banded); independent needs none. ``index``/``mask`` come from :func:`group_rows`.
    """
    time = res.time[index]
    valid = (mask[:, :, None] * mask[:, None, :]) > 0
    distance = np.abs(time[:, :, None] - time[:, None, :])
    if res.kind in ("ar", "ma", "toeplitz"):
        return {"r_lag": np.where(valid, distance, 0).astype(np.int32)}
    if res.kind == "exchangeable":
        off_diagonal = ~np.eye(index.shape[1], dtype=bool)[None]
        return {"r_lag": (off_diagonal & valid).astype(np.int32)}
    if res.kind == "exponential":
        return {"r_dist": np.where(valid, distance, 0.0)}
    if res.kind in POSITION_KINDS:
        return {"r_pos": np.searchsorted(res.time_levels, time).astype(np.int32) * (mask > 0)}
    return {}


def residual_arrays(res: ResidualDesign, codes: list[np.ndarray], zs: list[np.ndarray],
                    xy: np.ndarray, layout: BlockLayout) -> dict[str, np.ndarray]:
    """Host arrays for :func:`whitened_blocks` (terms in block order, first term first)."""
    index, mask = group_rows(res)
    first_row = index[:, 0]
    local = np.concatenate(zs + [xy], axis=1)
    out = {
        "r_data": local[index] * mask[:, :, None],
        "r_mask": mask,
        "r_by_row": np.where(mask > 0, res.by_codes[index], 0).astype(np.int32),
        "r_by_group": res.by_codes[first_row].astype(np.int32),
        "r_c1": codes[0][first_row].astype(np.int32),
    }
    if (res.kind == "ar" and res.order == 1) or res.kind == "exponential":
        # Markov structures: only the gap to the previous row matters
        time = res.time[index]
        has_previous = np.zeros_like(mask)
        has_previous[:, 1:] = mask[:, 1:] * mask[:, :-1]
        gap = np.zeros_like(time, dtype=float)
        gap[:, 1:] = (time[:, 1:] - time[:, :-1]) * has_previous[:, 1:]
        out["r_has_previous"] = has_previous
        out["r_gap"] = gap if res.kind == "exponential" else gap.astype(np.int32)
    else:
        out.update(covariance_index_arrays(res, index, mask))
    if layout.q2:
        cols, _ = rest_columns(codes, zs, layout.rest)
        out["r_cols"] = cols[first_row].astype(np.int32)
        for t, lay in enumerate(layout.rest, start=1):
            _, inv = pair_index(codes[0], codes[t], lay.n_levels)
            out[f"r_pair_{t}"] = inv[first_row].astype(np.int32)
    return out


def residual_index_arrays(res: ResidualDesign, codes: list[np.ndarray], zs: list[np.ndarray],
                          p: int, layout: BlockLayout, n_blocks: tuple[int, ...]
                          ) -> dict[str, np.ndarray]:
    """:func:`residual_arrays` without the values: for whitened blocks of traced row data.

    ``r_index`` (groups × rows) maps each group's padded rows to data rows, so traced
    code builds ``r_data`` with :func:`grouped_rows`; zero ``b21_t`` give the shapes
    the whitened sums fill in (``n_blocks[t-1]`` sparse blocks of term t).
    """
    host = residual_arrays(res, codes, zs, np.zeros((len(res.codes), p + 1)), layout)
    host.pop("r_data")
    index, mask = group_rows(res)
    host["r_index"] = index.astype(np.int32)
    host["r_mask"] = mask
    k1 = layout.first.k
    for t, lay in enumerate(layout.rest, start=1):
        host[f"b21_{t}"] = np.zeros((n_blocks[t - 1], lay.k, k1))
    return {k: np.asarray(v) for k, v in host.items()}


def grouped_rows(values, arrays: dict):
    """Rows (n, K) as residual groups (G, M, K), zero in the padding (traced)."""
    return values[arrays["r_index"]] * arrays["r_mask"][:, :, None]


def whitened_blocks(eta, arrays: dict, layout: BlockLayout, residual: ResidualStructure):
    """The cross-product blocks of R̃^{-1/2}[Z X y] and log|R̃| (traced, pure).

    The per-group factorizations use the scan of :mod:`mejax.linalg.batched`, not
    jaxlib's batched LAPACK kernels: those hang under second derivatives and, in
    long test runs, were followed by heap corruption (aborts and segfaults in later
    compilations) with jaxlib 0.10.2.
    """
    white, log_det = whiten_groups(eta, arrays["r_data"], arrays, residual)
    return _sum_blocks(white, arrays, layout), log_det


def whiten_groups(eta, data, arrays: dict, residual: ResidualStructure):
    """R̃_i^{-1/2} applied to each group's rows ``data`` (G, M, K), and log|R̃| (traced, pure).

    ``arrays`` holds the index arrays of :func:`residual_arrays` (``r_data`` is not read).
    """
    if residual.is_markov:
        return _markov_whiten(eta, data, arrays, residual)
    if residual.kind == "independent":  # R̃ is diagonal: scale the rows
        scale = residual.row_scale(eta, arrays)
        return data / scale[:, :, None], 2.0 * jnp.sum(jnp.log(scale))
    low = batched.cholesky(residual.relative_cov(eta, arrays))
    white = batched.solve_lower(low, data)
    return white, 2.0 * jnp.sum(jnp.log(jnp.diagonal(low, axis1=1, axis2=2)))


def _markov_whiten(eta, data, arrays, residual: ResidualStructure):
    """Prais–Winsten with gaps: w_j = (d_j − c_j d_{j−1}) / √(1 − c_j²), c_j = corr(j, j−1).

    Rows are scaled by their relative sd first (R̃ = S C S), so by() works too.
    """
    scale = residual.row_scale(eta, arrays)
    corr = residual.previous_correlation(eta, arrays)
    scaled = data / scale[:, :, None]
    previous = jnp.concatenate([jnp.zeros_like(scaled[:, :1]), scaled[:, :-1]], axis=1)
    innovation_var = 1.0 - corr**2
    white = (scaled - corr[:, :, None] * previous) / jnp.sqrt(innovation_var)[:, :, None]
    log_det = jnp.sum(jnp.log(innovation_var)) + 2.0 * jnp.sum(jnp.log(scale))
    return white, log_det


def _sum_blocks(white, arrays: dict, layout: BlockLayout) -> dict:
    """Per-group cross products of the whitened data, summed into the block layout."""
    cross = jnp.einsum("gmi,gmj->gij", white, white)
    k1 = layout.first.k
    kr = sum(t.k for t in layout.rest)
    xs = slice(k1 + kr, None)
    blocks = dict(arrays)
    n1 = layout.first.n_levels
    blocks["a11"] = jax.ops.segment_sum(cross[:, :k1, :k1], arrays["r_c1"], n1)
    blocks["a1x"] = jax.ops.segment_sum(cross[:, :k1, xs], arrays["r_c1"], n1)
    blocks["axx"] = jnp.sum(cross[:, xs, xs], axis=0)
    if layout.q2:
        q2 = layout.q2
        cols = arrays["r_cols"]
        rest = slice(k1, k1 + kr)
        blocks["a22"] = jnp.zeros((q2, q2), cross.dtype).at[
            cols[:, :, None], cols[:, None, :]].add(cross[:, rest, rest])
        blocks["a2x"] = jnp.zeros((q2, cross.shape[1] - k1 - kr), cross.dtype).at[cols].add(
            cross[:, rest, xs])
        start = k1
        for t, lay in enumerate(layout.rest, start=1):
            n_pairs = arrays[f"b21_{t}"].shape[0]
            blocks[f"b21_{t}"] = jax.ops.segment_sum(
                cross[:, start : start + lay.k, :k1], arrays[f"r_pair_{t}"], n_pairs)
            start += lay.k
    return blocks
