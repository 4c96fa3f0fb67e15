"""Several devices: the batch axis of batch fits, and the rows of one large model.

Batch fits shard their leading axis over a one-dimensional :class:`jax.sharding.Mesh`
(axis ``"batch"``); each device runs its slice of the vmapped fit and XLA's SPMD
partitioner adds the few collectives the optimiser's loop needs.

A large linear mixed model needs only sums over rows of [Z X y]'[Z X y]
(DESIGN.md §3). :func:`sharded_row_sums` splits the rows over devices with
``jax.shard_map``, sums each shard's blocks on its device and adds them with
``psum``; the factorization and the fit then run on the summed blocks.

A GLMM's log likelihood is summed over clusters on several devices by
:mod:`mejax.glmm_parallel`.

On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (set before JAX
is imported) gives eight devices to try this on.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .linalg.blocks import BlockLayout
from .linalg.traced_blocks import rest_values, row_structure, row_sums

BATCH_AXIS = "batch"
ROW_AXIS = "rows"


def resolve_devices(devices=None) -> list:
    """Devices to use: ``None`` or "all" all of the default backend's, an int the first n,
    or a list of devices."""
    available = jax.devices()
    if devices is None or devices == "all":
        return available
    if isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices={devices}: {len(available)} device(s) available")
        return available[:devices]
    chosen = list(devices)
    if not chosen:
        raise ValueError("devices= is an empty list")
    return chosen


def batch_mesh(devices=None) -> Mesh | None:
    """A mesh over the batch axis, or None when there is one device (plain jit)."""
    chosen = resolve_devices(devices)
    if len(chosen) < 2:
        return None
    return Mesh(np.array(chosen), (BATCH_AXIS,))


def put_batch(batched, mesh: Mesh | None):
    """Place a chunk's batched leaves, split along axis 0 over the mesh."""
    if mesh is None:
        return batched
    return jax.device_put(batched, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


def put_shared(shared, mesh: Mesh | None):
    """Place the arrays every fit reads once: on the default device, or on every device."""
    if mesh is None:
        return jax.device_put(shared)
    return jax.device_put(shared, NamedSharding(mesh, PartitionSpec()))


def _pad_rows(a: np.ndarray, n: int) -> np.ndarray:
    extra = n - a.shape[0]
    if extra == 0:
        return a
    return np.concatenate([a, np.zeros((extra,) + a.shape[1:], a.dtype)])


def sharded_row_sums(z1, zr, xy, w, rows: dict, layout: BlockLayout,
                     n_blocks: tuple[int, ...], devices: Sequence) -> dict[str, np.ndarray]:
    """:func:`mejax.linalg.traced_blocks.row_sums` over row shards, one per device.

    Rows are padded with zero weight to a multiple of the device count; each
    device sums its shard and ``psum`` adds the shards. Returns numpy arrays.
    """
    mesh = Mesh(np.array(list(devices)), (ROW_AXIS,))
    n_dev = mesh.devices.size
    n = xy.shape[0]
    n_pad = -(-n // n_dev) * n_dev
    row_data = {"z1": z1, "zr": zr, "xy": xy, "w": w, **rows}
    row_data = {k: _pad_rows(np.asarray(v), n_pad) for k, v in row_data.items()}

    def local(data):
        data = dict(data)
        sums = row_sums(data.pop("z1"), data.pop("zr"), data.pop("xy"), data.pop("w"), data,
                        layout, n_blocks)
        return jax.lax.psum(sums, ROW_AXIS)

    spec = {k: PartitionSpec(ROW_AXIS) for k in row_data}
    summed = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec,), out_specs=PartitionSpec()))
    placed = jax.device_put(row_data, {k: NamedSharding(mesh, s) for k, s in spec.items()})
    return {k: np.asarray(v) for k, v in summed(placed).items()}


def sharded_crossprod_blocks(codes: list[np.ndarray], zs: list[np.ndarray], xy: np.ndarray,
                             n_levels: list[int], devices: Sequence
                             ) -> tuple[BlockLayout, dict[str, np.ndarray]]:
    """:func:`mejax.linalg.blocks.crossprod_blocks` with the row sums spread over ``devices``.

    The host builds only the index arrays (they depend on the level codes); the
    sums over rows run on the devices, one row shard each.
    """
    layout, rows, index = row_structure(codes, zs, n_levels, xy.shape[1] - 1)
    n_blocks = tuple(index[f"b21_level1_{t}"].shape[0] for t in range(1, len(layout.rest) + 1))
    zr = rest_values(zs) if layout.q2 else np.zeros((xy.shape[0], 0))
    sums = sharded_row_sums(zs[0], zr, xy, np.ones(xy.shape[0]), rows, layout, n_blocks, devices)
    return layout, {**sums, **index}
