"""Compiled batch calls, reused within a process and across processes.

A batch call is ``fn(static, batched, shared)``: ``static`` a hashable model
structure, ``batched`` a pytree of arrays with a leading batch axis, ``shared``
a pytree of arrays every fit reads. One executable serves every call with the
same structure and shapes (shapes come in buckets, so similar data share it).

Across processes, JAX's persistent compilation cache (:mod:`mejax._config`)
skips XLA's compilation but not tracing, which for an optimiser inside vmap
costs most of a second. So the traced program is also kept on disk, exported
with :mod:`jax.export` next to the compilation cache; a warm process loads it
and goes straight to the cached executable. Both switch off with
``MEJAX_NO_CACHE=1``. With several devices the batch axis is sharded
(:mod:`mejax.parallel`) and the call is an ordinary ``jax.jit``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Hashable
from functools import lru_cache, partial
from pathlib import Path

import jax
import numpy as np

_CALLS: dict[tuple, Callable] = {}


@lru_cache(maxsize=1)
def source_digest() -> str:
    """Hash of mejax's sources and the JAX versions: a stale exported program never loads."""
    digest = hashlib.sha256(f"{jax.__version__} {jax.lib.__version__}".encode())
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def export_dir() -> Path | None:
    """Folder of exported programs, or None when caching is off or export is unavailable."""
    if os.environ.get("MEJAX_NO_CACHE"):
        return None
    cache = jax.config.jax_compilation_cache_dir
    if not cache:
        return None
    try:
        import flatbuffers  # noqa: F401  (jax.export's serialisation needs it)
    except ImportError:
        return None
    return Path(cache) / "mejax_exported"


def _avals(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return str(treedef), tuple((np.shape(x), _dtype(x).str) for x in leaves)


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.result_type(x)


def _key(name: str, static: Hashable, batched, shared) -> tuple:
    return (name, static, _avals(batched), _avals(shared), jax.default_backend())


def compiled_call(name: str, fn: Callable, static: Hashable, batched, shared,
                  mesh=None) -> Callable:
    """A callable ``(batched, shared) -> output`` for these shapes, compiled at most once.

    ``name`` identifies ``fn`` on disk; ``repr(static)`` must describe
    everything about the model that the traced code reads.
    """
    key = _key(name, static, batched, shared) + (None if mesh is None else mesh.shape_tuple,)
    call = _CALLS.get(key)
    if call is None:
        call = _build(name, fn, static, batched, shared, mesh)
        _CALLS[key] = call
    return call


def _build(name, fn, static, batched, shared, mesh) -> Callable:
    jitted = jax.jit(partial(fn, static))
    folder = export_dir()
    if mesh is not None or folder is None:
        return jitted
    ident = hashlib.sha256(repr((name, static, _avals(batched), _avals(shared),
                                 jax.default_backend(), source_digest())).encode())
    path = folder / f"{name}-{ident.hexdigest()[:32]}.jaxexport"
    exported = _load(path)
    if exported is None:
        shapes = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), _dtype(x)), (batched, shared))
        exported = jax.export.export(jitted)(*shapes)
        _save(path, exported)
    return jax.jit(exported.call)


def _load(path: Path):
    if not path.exists():
        return None
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # a truncated or foreign file: export again
        return None


def _save(path: Path, exported) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(exported.serialize())
        os.replace(handle.name, path)
    except OSError:
        pass
