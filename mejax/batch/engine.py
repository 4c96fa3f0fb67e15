"""Run a compiled batch call over many fits: chunks, padding, devices, progress.

Model-agnostic. A model kind supplies ``fn(static, batched, shared)`` that fits
every row of ``batched`` (vmapped) and returns one float vector per fit; the
engine cuts the batch into chunks of one bucketed size (so the last, partial
chunk reuses the same executable), shards each chunk over the devices, shows a
tqdm bar on long runs and stacks the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import numpy as np

from ..linalg.blocks import bucket
from ..parallel import batch_mesh, put_batch, put_shared
from ..text import progress_bar
from .compiled import compiled_call

# A vmapped optimiser runs until its slowest fit stops, so smaller chunks waste fewer
# steps; on CPU 128 fits per call ran 1000 sleepstudy refits faster than 1024.
MAX_CHUNK = {"cpu": 128}
MAX_CHUNK_DEFAULT = 1024
CHUNK_ELEMENTS = 1 << 22  # response values per chunk: 32 MiB of float64
MIN_PER_DEVICE = 8


def chunk_size_for(n_fits: int, n_obs: int, chunk_size: int | None = None,
                   n_devices: int = 1) -> int:
    """Fits per compiled call: bucketed, a multiple of the device count.

    Small batches get the bucket of their size (8, 12, 16, 24, ...), large ones
    chunks of :data:`MAX_CHUNK` fits (fewer when that would hold more than
    :data:`CHUNK_ELEMENTS` response values); over several
    devices, at least :data:`MIN_PER_DEVICE` fits per device.
    """
    if chunk_size is None:
        largest = MAX_CHUNK.get(jax.default_backend(), MAX_CHUNK_DEFAULT)
        limit = max(8, min(largest, CHUNK_ELEMENTS // max(n_obs, 1)))
        limit = 1 << (limit.bit_length() - 1)
        chunk_size = bucket(min(n_fits, limit))
    elif chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if n_devices == 1:
        return chunk_size
    # at least MIN_PER_DEVICE fits per device: XLA emits other code for tiny batches
    # (under 4 on CPU), so a sharded chunk then gives the same results as one device
    return max(-(-chunk_size // n_devices), MIN_PER_DEVICE) * n_devices


@dataclass
class BatchRun:
    """Stacked outputs (n_fits, width) and timings of one batch run."""

    outputs: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


def _progress_bar(total: int, n_chunks: int, progress: bool | None, desc: str):
    if progress is False or (progress is None and n_chunks < 2):
        return progress_bar(total=total, disable=True)
    # on auto, the bar appears only once a run has taken a second
    return progress_bar(total=total, desc=desc, unit="fit", delay=0.0 if progress else 1.0,
                        leave=bool(progress))


def run_batch(name: str, fn: Callable, static, batched: Callable[[int, int], object] | object,
              shared, n_fits: int, n_obs: int, *, chunk_size: int | None = None,
              progress: bool | None = None, devices=None, desc: str = "fits") -> BatchRun:
    """Call ``fn`` on chunks of ``batched`` and stack the per-fit output vectors.

    ``batched`` is a pytree of arrays with ``n_fits`` rows, or a function
    ``(start, stop) -> pytree`` that makes a chunk's rows on demand (simulation).
    A chunk shorter than the chunk size is padded by repeating its first row;
    padded fits are dropped from the output.
    """
    mesh = batch_mesh(devices)
    n_devices = 1 if mesh is None else mesh.devices.size
    size = chunk_size_for(n_fits, n_obs, chunk_size, n_devices)
    take = batched if callable(batched) else (
        lambda start, stop: jax.tree_util.tree_map(lambda a: a[start:stop], batched))
    starts = list(range(0, n_fits, size))
    pieces: list[np.ndarray] = []
    timings: dict[str, float] = {"chunk_size": float(size), "n_chunks": float(len(starts))}
    t_start = time.perf_counter()
    shared = put_shared(shared, mesh)
    with _progress_bar(n_fits, len(starts), progress, desc) as bar:
        pending = None
        for start in starts:
            stop = min(start + size, n_fits)
            chunk = jax.tree_util.tree_map(lambda a: _pad_rows(np.asarray(a), size),
                                           take(start, stop))
            call = compiled_call(name, fn, static, chunk, shared, mesh)
            result = call(put_batch(chunk, mesh), shared)  # dispatched asynchronously
            if pending is not None:
                _collect(pending, pieces, bar, timings, t_start)
            pending = (result, stop - start)
        if pending is not None:
            _collect(pending, pieces, bar, timings, t_start)
    timings["total_s"] = time.perf_counter() - t_start
    return BatchRun(np.concatenate(pieces, axis=0), timings)


def _collect(pending, pieces, bar, timings, t_start) -> None:
    result, count = pending
    pieces.append(np.asarray(result)[:count])
    timings.setdefault("first_chunk_s", time.perf_counter() - t_start)
    bar.update(count)


def _pad_rows(a: np.ndarray, size: int) -> np.ndarray:
    """Rows up to ``size`` by repeating the first: padded fits behave like a real one."""
    extra = size - a.shape[0]
    if extra <= 0:
        return a
    return np.concatenate([a, np.repeat(a[:1], extra, axis=0)])
