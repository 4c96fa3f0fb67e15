"""A GLMM's log likelihood summed over top-level clusters split across devices.

The log likelihood is a sum over top-level clusters of each cluster's log
marginal. :func:`cluster_shards` gives every device whole clusters (no cluster
straddles devices), :func:`sharded_glmm_loglik` sums each device's clusters on
that device and adds the devices' sums with ``psum``; gradients follow through
``shard_map``. Used by the GLMM fit's ``devices=`` (:mod:`mejax.fit.glmm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import SpecError
from .models.density import CLUSTER_WEIGHT
from .models.glmm import marginal_loglik
from .models.glmm_structure import GlmmStructure
from .parallel import ROW_AXIS

ROW_KEYS = ("x", "offset", "z")  # a GLMM's per-row arrays besides "data" and the codes


def check_shardable(model: GlmmStructure) -> None:
    """SpecError unless the model's top-level clusters can be split over devices."""
    if model.engine == "sparse":
        raise SpecError("devices= splits a GLMM's top-level clusters over devices: crossed "
                        "random effects form one cluster; fit on one device (devices=None)")


def _levels(arrays: dict, model: GlmmStructure) -> list[dict]:
    """Row codes, group count, parents and weights of every level, top first."""
    if model.engine == "grouped":
        return [{"group": np.asarray(arrays["group"]), "n": model.n_units}]
    return [{**{k: np.asarray(v) for k, v in lv.items()}, "n": len(lv["parent"])}
            for lv in arrays["levels"]]


def _split(cluster: np.ndarray, n_clusters: int, n_devices: int) -> list[np.ndarray]:
    """Each device's rows: whole clusters, in order, in runs of about equal row counts."""
    order = np.argsort(cluster, kind="stable")
    sizes = np.bincount(cluster, minlength=n_clusters)
    # cluster c goes to the device holding the middle of its rows in the sorted order
    middle = np.cumsum(sizes) - 0.5 * sizes
    device_of = np.minimum((middle * n_devices / len(cluster)).astype(np.int64), n_devices - 1)
    return [order[device_of[cluster[order]] == d] for d in range(n_devices)]


def _local_levels(levels: list[dict], rows_of: list[np.ndarray], n_rows: int,
                  top_weight: np.ndarray) -> tuple[list[list[dict]], list[int]]:
    """Every shard's levels relabelled to the groups it holds, padded to common sizes.

    The last group of each level holds the padding rows (its parent: the padding group
    above); the top-level padding clusters have weight zero, lower padding groups one.
    """
    present = [[np.unique(lv["group"][rows]) for lv in levels] for rows in rows_of]
    sizes = [max(len(p[i]) for p in present) + 1 for i in range(len(levels))]
    shards = []
    for rows, held in zip(rows_of, present):
        out = []
        for i, (lv, groups) in enumerate(zip(levels, held)):
            pad = sizes[i] - 1
            codes = np.full(n_rows, pad, dtype=np.int32)
            codes[:len(rows)] = np.searchsorted(groups, lv["group"][rows])
            local = {"group": codes}
            if i == 0:
                local["weight"] = np.zeros(sizes[0])
                local["weight"][:len(groups)] = top_weight[groups]
            else:
                parent = np.full(sizes[i], sizes[i - 1] - 1, dtype=np.int32)
                parent[:len(groups)] = np.searchsorted(held[i - 1], lv["parent"][groups])
                local["parent"] = parent
                if "weight" in lv:
                    local["weight"] = np.ones(sizes[i])
                    local["weight"][:len(groups)] = lv["weight"][groups]
            out.append(local)
        shards.append(out)
    return shards, sizes


def cluster_shards(arrays: dict, model: GlmmStructure, n_devices: int
                   ) -> tuple[dict, GlmmStructure]:
    """A GLMM's rows regrouped into ``n_devices`` shards of whole top-level clusters.

    Clusters (the groups of a single level or of the top of nested levels; the rows
    without random effects) go to devices in order, in runs of about equal row
    counts. Every shard is padded to the same rows and groups: the padding rows copy
    a real row and form one extra group at each level, in a top-level cluster of
    weight zero, as is every padding cluster's. Returns arrays with a leading device
    axis and the structure of one shard (its number of clusters).
    """
    check_shardable(model)
    n = arrays["x"].shape[0]
    levels = [] if model.engine == "none" else _levels(arrays, model)
    top = levels[0]["group"] if levels else np.arange(n)
    n_top = levels[0]["n"] if levels else n
    rows_of = _split(top, n_top, n_devices)
    n_rows = max(1, max(len(r) for r in rows_of))
    weight = arrays.get(CLUSTER_WEIGHT)
    weight = np.ones(n_top) if weight is None else np.asarray(weight, dtype=float)
    row_arrays = {k: np.asarray(arrays[k]) for k in ROW_KEYS if k in arrays}
    row_arrays["data"] = {k: np.asarray(v) for k, v in arrays["data"].items()}
    local_levels, sizes = _local_levels(levels, rows_of, n_rows, weight)
    shards = []
    for rows, local in zip(rows_of, local_levels):
        take = np.concatenate([rows, np.full(n_rows - len(rows), rows[0] if len(rows) else 0)])
        shard = jax.tree_util.tree_map(lambda a, take=take: a[take], row_arrays)
        if model.engine == "none":  # every row its own cluster
            shard[CLUSTER_WEIGHT] = np.zeros(n_rows)
            shard[CLUSTER_WEIGHT][:len(rows)] = weight[rows]
        else:
            shard[CLUSTER_WEIGHT] = local[0].pop("weight")
        if model.engine == "grouped":
            shard["group"] = local[0]["group"]
        elif model.engine == "nested":
            top_parent = np.zeros(sizes[0], dtype=np.int32)
            shard["levels"] = tuple({**lv, "parent": top_parent if i == 0 else lv["parent"],
                                     "cols": np.asarray(arrays["levels"][i]["cols"])}
                                    for i, lv in enumerate(local))
        shards.append(shard)
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *shards)
    return stacked, replace(model, n_units=sizes[0]) if model.engine == "grouped" else model


def cluster_mesh(devices: Sequence) -> Mesh:
    return Mesh(np.array(list(devices)), (ROW_AXIS,))


def sharded_glmm_loglik(params, shards: dict, model: GlmmStructure, mesh: Mesh,
                        order: int = 1):
    """log L = Σ_devices Σ_(its clusters) w_c log L_c: each device its own clusters, then psum.

    ``shards`` and ``model`` come from :func:`cluster_shards`; ``params`` are replicated.
    Traced and differentiable (``jax.grad`` goes through ``shard_map``).
    """
    def local(p, shard):
        shard = jax.tree_util.tree_map(lambda a: a[0], shard)
        return jax.lax.psum(marginal_loglik(p, shard, model, order), ROW_AXIS)

    spec = jax.tree_util.tree_map(lambda _: PartitionSpec(ROW_AXIS), shards)
    # check_vma=False: the Newton search's loops start from replicated zeros and carry
    # per-device modes, which the varying-axes check rejects; the psum of the
    # per-device totals is the only collective, and its gradient is checked in tests
    return jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), spec),
                         out_specs=PartitionSpec(), check_vma=False)(params, shards)


@partial(jax.jit, static_argnames=("model", "mesh", "order"))
def sharded_loglik_and_gradient(params, shards: dict, model: GlmmStructure, mesh: Mesh,
                                order: int = 2):
    """:func:`sharded_glmm_loglik` and its gradient, compiled once per model and mesh."""
    return jax.value_and_grad(sharded_glmm_loglik)(params, shards, model, mesh, order)


def put_shards(shards: dict, mesh: Mesh) -> dict:
    """Place each device's shard on its device (once, before the evaluations)."""
    return jax.device_put(shards, NamedSharding(mesh, PartitionSpec(ROW_AXIS)))
