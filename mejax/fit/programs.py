"""Compiled programs kept across processes: traced once, exported, loaded by later processes.

JAX's persistent compilation cache (:mod:`mejax._config`) skips XLA's compile in a
new process but not tracing and lowering, which for an optimiser loop is most of a
warm process's second. So each program is also exported with :mod:`jax.export`
next to the compilation cache, keyed by its name, the static model, the shapes and
dtypes of its inputs, the backend and a digest of mejax's sources and JAX's
versions; a warm process deserialises it and goes straight to the cached
executable. Within a process a program is built once per key. ``MEJAX_NO_CACHE=1``
switches both caches off (programs are then ordinary ``jax.jit`` calls).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Hashable
from functools import lru_cache
from pathlib import Path

import jax
import numpy as np

_PROGRAMS: dict[tuple, Callable] = {}


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


def avals(tree) -> tuple:
    """Tree structure, shapes and dtypes of ``tree``'s leaves: what a program is traced for."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return str(treedef), tuple((np.shape(x), _dtype(x)) for x in leaves)


def _dtype(x) -> str:
    # numpy's own dtype where there is one: jax.dtypes.result_type costs ~20 µs a leaf,
    # a warm fit's largest host cost after the program itself
    return x.dtype.str if isinstance(x, np.ndarray | np.generic) else jax.dtypes.result_type(x).str


# XLA's compile options for a program a first fit needs: LLVM's optimisation off halves
# XLA's compile of a single fit's gradient (sleepstudy, cbpp, InstEval: 5.1 -> 3.7 s,
# 9 -> 5 s, 7.5 -> 5.3 s under load), while its run time is dominated by library calls
# (Cholesky factors, products) that the level does not touch, or is small against that
FAST_COMPILE = {"xla_backend_optimization_level": 0}
# XLA's own default level, named: programs that run long (samplers, batches, simulations)
# keep it even where XLA_FLAGS lowers the default, as the test suite does (tests/conftest.py)
OPTIMISED = {"xla_backend_optimization_level": 3}


def program(name: str, fn: Callable, static: Hashable, *args,
            fast_compile: bool = False, optimised: bool = False) -> Callable:
    """``fn`` compiled for the shapes of ``args`` (called as ``program(...)(*args)``).

    ``fn`` takes ``args`` only; ``static`` is the model it closes over, and
    ``repr(static)`` must describe everything about it that the traced code reads
    (``name`` identifies ``fn``). Loaded from disk when a previous process exported it.
    ``fast_compile`` compiles with :data:`FAST_COMPILE`: for the programs of a first
    fit, whose compile is most of a fresh process's time; ``optimised`` with
    :data:`OPTIMISED`, for a program whose run time is known to dominate (neither: XLA's
    default, as XLA_FLAGS may set it).
    """
    key = (name, static, avals(args), jax.default_backend(), fast_compile, optimised)
    # in this process also keyed by the function itself (a partial's ``func``), so a
    # replaced function (a test's monkeypatch, a reloaded module) is not served the old one
    memo = (key, getattr(fn, "func", fn))
    call = _PROGRAMS.get(memo)
    if call is None:
        options = FAST_COMPILE if fast_compile else OPTIMISED if optimised else None
        call = exported_jit(name, jax.jit(fn, compiler_options=options), key, args, options)
        _PROGRAMS[memo] = call
    return call


def remember_latest(evaluate: Callable) -> Callable:
    """``evaluate`` (numpy arguments) that returns its latest answer again for the same
    arguments without a call: a fit evaluates its program at the same point twice (the
    preconditioner's centre is BFGS's first point; the optimum again for the estimates)."""
    last: dict = {}

    def remembered(*args):
        key = tuple(np.asarray(a).tobytes() for a in args)
        if key not in last:
            last.clear()
            last[key] = evaluate(*args)
        return last[key]

    return remembered


REPEATS_BEFORE_OPTIMISED = 2  # fits of one model per process served by first-fit programs
_FITS: dict[tuple, int] = {}  # fits per (model, shapes) in this process


def repeated_fit(static: Hashable, *args) -> bool:
    """Count a fit of ``static`` on ``args``' shapes; True from the third in this process.

    A first fit compiles the least it can (:data:`FAST_COMPILE`, a host-driven loop); a
    process fitting the same model again and again (a simulation, a loop over subsets)
    is better served by programs that cost more to compile and less to run.
    """
    key = (static, avals(args))
    _FITS[key] = _FITS.get(key, 0) + 1
    return _FITS[key] > REPEATS_BEFORE_OPTIMISED


def clear() -> None:
    """Forget this process's programs (their executables are freed with them)."""
    _PROGRAMS.clear()
    _FITS.clear()


def exported_jit(name: str, jitted: Callable, key: Hashable, args: tuple,
                 options: dict | None = None) -> Callable:
    """``jitted``, or its exported program (loaded, or exported now) when a folder is set;
    ``options``: XLA's compile options for the loaded program."""
    folder = export_dir()
    if folder is None:
        return jitted
    ident = hashlib.sha256(repr((key, source_digest())).encode()).hexdigest()[:32]
    path = folder / f"{name}-{ident}.jaxexport"
    exported = _load(path)
    if exported is None:
        shapes = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), jax.dtypes.result_type(x)), args)
        exported = jax.export.export(jitted)(*shapes)
        _save(path, exported)
    return jax.jit(exported.call, compiler_options=options)


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
