"""Run a timing script in a fresh Python process with a given mejax compile cache.

Fresh-process figures are what users meet first: the wall time covers Python
startup, ``import mejax``, tracing and compiling (or loading from the cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def fresh_process(script: str, *args, cache_dir: str) -> dict:
    """``{"process_s": wall seconds, "stdout": text}`` of ``python -c script args...``.

    The process uses ``cache_dir`` as its persistent compile cache (empty for a cold
    start, the one a previous run left for a warm one); a failure gives ``{"error": ...}``.
    """
    env = {**os.environ, "MEJAX_CACHE_DIR": cache_dir}
    env.pop("MEJAX_NO_CACHE", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-800:]}
    return {"process_s": wall, "stdout": proc.stdout}
