"""Run a test script in a fresh Python process, where it can ask for several CPU devices.

``XLA_FLAGS=--xla_force_host_platform_device_count=N`` only takes effect before JAX is
imported, so multi-device checks run as scripts that set it first and print ``ok`` at
the end; the parent's own ``XLA_FLAGS`` is not passed on.
"""

from __future__ import annotations

import os
import subprocess
import sys


def run_script(script: str, timeout: int = 600) -> None:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok"), proc.stdout
