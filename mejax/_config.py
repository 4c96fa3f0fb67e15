"""Process-wide JAX settings: float64 and the persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax

# jaxlib 0.10.2 enables XLA:CPU's YNNPACK fusions, which crash or hang on some kernels
# (jax-ml/jax#39257); an empty fusion type switches them off. Set before the CPU backend starts.
YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="


def configure() -> None:
    """Enable float64 and, unless MEJAX_NO_CACHE is set, a persistent compile cache.

    The cache lives in ``$MEJAX_CACHE_DIR`` or ``~/.cache/mejax/jax``, so a
    second process reuses compiled fits instead of recompiling.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "ynn_fusion_type" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {YNN_OFF}".strip()
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("MEJAX_NO_CACHE"):
        return
    cache = Path(os.environ.get("MEJAX_CACHE_DIR", Path.home() / ".cache" / "mejax" / "jax"))
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(cache))
    # a first fit's programs compile without LLVM's optimisation (fit/programs.py), some in
    # 0.1-0.4 s: below JAX's default 1 s (or a 0.5 s floor) they would be compiled again by
    # every process (wine's meologit: 0.8 s of a warm process); a cache read costs ~10 ms
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
