"""Parametric bootstrap: mejax batch refits against lme4's bootMer, same machine, one run.

    python benchmarks/run_bootstrap.py [--nsim 1000]

sleepstudy ``Reaction ~ Days + (Days | Subject)`` ML, ``nsim`` parametric-bootstrap
refits (fixed effects and all variance components per replicate):

- mejax in a fresh process with an empty compilation cache (cold: tracing and XLA
  compilation included) and again with the cache that run left (warm: the exported
  program and the compiled executable are loaded from disk); the time of the
  ``fit.bootstrap(nsim)`` call, and the whole process.
- mejax in one process, repeated calls (median): the steady state.
- ``lme4::bootMer(m, stat, nsim)`` in one Rscript (``r/lmer_sleepstudy_bootmer.R``).
- batch fit: ``mejax.fit_batch(fit, Y)`` on ``nsim`` simulated responses as the first
  compiled call of a fresh process, empty vs warm cache (cold and warm compile).

Writes ``benchmarks/results/bootstrap.json`` and prints per-refit times and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
from fresh import fresh_process  # noqa: E402

FORMULA = "Reaction ~ Days + (Days | Subject)"

PROCESS_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import mejax
mode, nsim = sys.argv[1], int(sys.argv[2])
df = mejax.datasets.load("sleepstudy")
fit = mejax.mixed(sys.argv[3], df)
t1 = time.perf_counter()
if mode == "bootstrap":
    boot = fit.bootstrap(nsim, seed=1, progress=False)
    n_failed = boot.n_failed
else:
    responses = fit.simulate(nsim, seed=2)
    t1 = time.perf_counter()
    n_failed = mejax.fit_batch(fit, responses, progress=False).n_failed
t2 = time.perf_counter()
print(json.dumps({"call_s": t2 - t1, "process_s": t2 - t0, "n_failed": n_failed}))
"""


def mejax_process(mode: str, nsim: int, cache_dir: str) -> dict:
    """A fresh Python process: import, fit, then one timed bootstrap or batch-fit call."""
    run = fresh_process(PROCESS_SCRIPT, mode, nsim, FORMULA, cache_dir=cache_dir)
    if "error" in run:
        return run
    out = json.loads(run["stdout"].strip().splitlines()[-1])
    out["wall_s"] = run["process_s"]
    return out


def cold_and_warm(mode: str, nsim: int) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as cache:
        return mejax_process(mode, nsim, cache), mejax_process(mode, nsim, cache)


def mejax_in_process(nsim: int, repeats: int = 5) -> dict:
    import mejax

    df = mejax.datasets.load("sleepstudy")
    fit = mejax.mixed(FORMULA, df)
    fit.bootstrap(nsim, seed=0, progress=False)
    times, steps = [], []
    for seed in range(1, repeats + 1):
        t0 = time.perf_counter()
        boot = fit.bootstrap(nsim, seed=seed, progress=False)
        times.append(time.perf_counter() - t0)
        steps.append(float(boot.replicates["steps"].mean()))
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats,
            "mean_bfgs_steps": statistics.mean(steps), "n_failed": boot.n_failed,
            "chunk_size": boot.batch.timings["chunk_size"], "loglik": fit.loglik,
            "boot_se": boot.ci()["std_err"].to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nsim", type=int, default=1000)
    args = parser.parse_args()
    nsim = args.nsim

    cold, warm = cold_and_warm("bootstrap", nsim)
    batch_cold, batch_warm = cold_and_warm("batch", nsim)
    steady = mejax_in_process(nsim)
    lme4 = peers._rscript("lmer_sleepstudy_bootmer.R", peers.SLEEPSTUDY_CSV, nsim, 1)

    def per_refit(seconds):
        return seconds / nsim

    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "model": f"sleepstudy {FORMULA} ML, parametric bootstrap",
        "nsim": nsim,
        "mejax_cold_cache_process": cold,
        "mejax_warm_cache_process": warm,
        "mejax_fit_batch_cold_cache_process": batch_cold,
        "mejax_fit_batch_warm_cache_process": batch_warm,
        "mejax_in_process": steady,
        "lme4_bootmer": lme4,
    }
    import jax

    results["jax"] = jax.__version__
    ratios = {}
    if "per_refit_s" in lme4:
        peer = lme4["per_refit_s"]
        for name, seconds in (("cold_cache", cold.get("call_s")),
                              ("warm_cache", warm.get("call_s")),
                              ("in_process", steady["median_s"])):
            if seconds:
                ratios[name] = peer / per_refit(seconds)
    results["lme4_over_mejax_per_refit"] = ratios
    out = HERE / "results" / "bootstrap.json"
    out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"{nsim} parametric-bootstrap refits of sleepstudy (Days | Subject), ML")
    for label, seconds in (("mejax, fresh process, empty cache", cold.get("call_s")),
                           ("mejax, fresh process, warm cache", warm.get("call_s")),
                           ("mejax, in process (median)", steady["median_s"]),
                           ("lme4 bootMer", lme4.get("total_s"))):
        if seconds is not None:
            print(f"  {label:38s} {seconds:8.3f} s  {1e3 * per_refit(seconds):8.3f} ms/refit")
    print(f"  fit_batch of {nsim} responses, first call of a fresh process: empty cache "
          f"{batch_cold.get('call_s', float('nan')):.3f} s, warm cache "
          f"{batch_warm.get('call_s', float('nan')):.3f} s")
    for name, ratio in ratios.items():
        print(f"  lme4 / mejax per refit ({name}): {ratio:.1f}x")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
