"""A GLMM's clusters over several devices: mejax on one and on n devices, and glmer, one run.

    python benchmarks/run_parallel_glmm.py [--devices 2] [--n 10]

Contraception ``c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district)``,
Bernoulli logit, Laplace (60 districts): the median warm whole call of ``mejax.melogit``
with ``devices=None`` (one device, the exported program) and ``devices=n`` (the districts
split over n devices, :func:`mejax.glmm_parallel.cluster_shards`), both in one fresh process
with ``XLA_FLAGS=--xla_force_host_platform_device_count=n`` (CPU devices here; on an
accelerator host the real devices), against ``glmer`` (``r/glmer_contraception.R``).

Writes ``benchmarks/results/parallel_glmm.json`` and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

CSV = HERE.parent / "tests" / "reference" / "data" / "contraception.csv"
FORMULA = "c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district)"
WORKER = """
import json, os, statistics, sys, time
n_dev, n = int(sys.argv[1]), int(sys.argv[2])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_dev}"
import jax, mejax, pandas as pd
df = pd.read_csv(sys.argv[3])
out = {"jax_devices": len(jax.devices()), "backend": jax.default_backend()}
for label, devices in (("one_device", None), ("sharded", n_dev)):
    def fit():
        r = mejax.melogit(sys.argv[4], df, method="laplace", devices=devices)
        r.fixef_se  # standard errors, as glmer's fit includes its Hessian
        return r
    t0 = time.perf_counter(); r = fit(); first = time.perf_counter() - t0
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); r = fit(); times.append(time.perf_counter() - t0)
    out[label] = {"first_s": first, "median_s": statistics.median(times), "min_s": min(times),
                  "loglik": r.loglik, "converged": r.converged}
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", WORKER, str(args.devices), str(args.n),
                           str(CSV), FORMULA], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    mejax_times = json.loads(proc.stdout.strip().splitlines()[-1])
    glmer = peers._rscript("glmer_contraception.R", CSV, args.n)
    result = {"model": FORMULA, "devices": args.devices, "mejax": mejax_times, "glmer": glmer,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    (HERE / "results" / "parallel_glmm.json").write_text(json.dumps(result, indent=2) + "\n")
    one, sharded = mejax_times["one_device"], mejax_times["sharded"]
    print(f"one device {one['median_s'] * 1e3:.1f} ms, {args.devices} devices "
          f"{sharded['median_s'] * 1e3:.1f} ms (first calls {one['first_s']:.1f} s / "
          f"{sharded['first_s']:.1f} s); loglik {one['loglik']:.8f} / {sharded['loglik']:.8f}")
    if "median_s" in glmer:
        print(f"glmer {glmer['median_s'] * 1e3:.1f} ms: glmer / one device "
              f"{glmer['median_s'] / one['median_s']:.1f}x, glmer / {args.devices} devices "
              f"{glmer['median_s'] / sharded['median_s']:.1f}x")
    else:
        print("glmer:", glmer)


if __name__ == "__main__":
    main()
