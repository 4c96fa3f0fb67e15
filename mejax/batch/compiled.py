"""Compiled batch calls, reused within a process and across processes.

A batch call is ``fn(static, batched, shared)``: ``static`` a hashable model
structure, ``batched`` a pytree of arrays with a leading batch axis, ``shared``
a pytree of arrays every fit reads. One executable serves every call with the
same structure and shapes (shapes come in buckets, so similar data share it).

Across processes the traced program is exported next to the compilation cache
(:mod:`mejax.fit.programs`, as single fits are), so a warm process skips tracing
too. With several devices the batch axis is sharded (:mod:`mejax.parallel`) and
the call is an ordinary ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial

import jax

from ..fit.programs import OPTIMISED, avals, exported_jit

_CALLS: dict[tuple, Callable] = {}


def _key(name: str, static: Hashable, batched, shared) -> tuple:
    return (name, static, avals(batched), avals(shared), jax.default_backend())


def compiled_call(name: str, fn: Callable, static: Hashable, batched, shared,
                  mesh=None) -> Callable:
    """A callable ``(batched, shared) -> output`` for these shapes, compiled at most once.

    ``name`` identifies ``fn`` on disk; ``repr(static)`` must describe
    everything about the model that the traced code reads.
    """
    key = _key(name, static, batched, shared) + (None if mesh is None else mesh.shape_tuple,)
    call = _CALLS.get(key)
    if call is None:
        jitted = jax.jit(partial(fn, static), compiler_options=OPTIMISED)  # runs long
        call = jitted if mesh is not None else exported_jit(name, jitted, key,
                                                            (batched, shared), OPTIMISED)
        _CALLS[key] = call
    return call
