"""Process-wide JAX settings: float64 and the persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax


def configure() -> None:
    """Enable float64 and, unless MEJAX_NO_CACHE is set, a persistent compile cache.

    The cache lives in ``$MEJAX_CACHE_DIR`` or ``~/.cache/mejax/jax``, so a
    second process reuses compiled fits instead of recompiling.
    """
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("MEJAX_NO_CACHE"):
        return
    cache = Path(os.environ.get("MEJAX_CACHE_DIR", Path.home() / ".cache" / "mejax" / "jax"))
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
