"""Side-by-side timings of mejax, lme4 and statsmodels on the same machine, in one run.

    python benchmarks/run_lmm.py [--quick]

- sleepstudy ``Reaction ~ Days + (Days | Subject)`` ML: median warm whole call
  (data frame in, result out), for mejax, lme4 (in one Rscript) and statsmodels.
- compile: a fresh mejax process fitting sleepstudy with an empty compilation cache
  (cold) and again with the cache it left (warm).
- InstEval ``y ~ service + (1 | s) + (1 | d) + (1 | dept:service)`` ML: a fresh
  process from import to result, cold and warm cache, against a fresh Rscript.
  ``--quick`` skips InstEval.

Writes ``benchmarks/results/lmm.json`` and prints ratios (peer time / mejax time).
"""

from __future__ import annotations

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

SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"
INSTEVAL_FORMULA = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"

PROCESS_SCRIPT = """
import resource, sys, time
t0 = time.perf_counter()
import mejax
df = mejax.datasets.load(sys.argv[1])
r = mejax.mixed(sys.argv[2], df)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{time.perf_counter() - t0} {r.loglik!r} {peak} {r.converged}")
"""


def mejax_sleepstudy_warm(n: int = 300) -> dict:
    import mejax

    df = mejax.datasets.load("sleepstudy")
    res = mejax.mixed(SLEEP_FORMULA, df)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        res = mejax.mixed(SLEEP_FORMULA, df)
        times.append(time.perf_counter() - t0)
    return {"peer": "mejax", "model": "sleepstudy", "median_s": statistics.median(times),
            "min_s": min(times), "loglik": res.loglik}


def mejax_process(dataset: str, formula: str, cache_dir: str) -> dict:
    """Wall time of a fresh Python process: import, load data, fit."""
    run = fresh_process(PROCESS_SCRIPT, dataset, formula, cache_dir=cache_dir)
    if "error" in run:
        return run
    inner, loglik, peak_mb, converged = run["stdout"].split()[-4:]
    return {"process_s": run["process_s"], "in_process_s": float(inner), "loglik": float(loglik),
            "peak_mb": float(peak_mb), "converged": converged == "True"}


def cold_and_warm(dataset: str, formula: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        cold = mejax_process(dataset, formula, cache)
        warm = mejax_process(dataset, formula, cache)
    return {"peer": "mejax", "model": dataset, "cold_cache": cold, "warm_cache": warm}


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    out: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}}
    out["sleepstudy"] = {
        "mejax": mejax_sleepstudy_warm(),
        "lme4": peers.time_lme4_sleepstudy(n=200),
        "statsmodels": peers.time_statsmodels_sleepstudy(n=100),
    }
    out["sleepstudy_process"] = cold_and_warm("sleepstudy", SLEEP_FORMULA)
    if not quick:
        out["insteval"] = {
            "mejax": cold_and_warm("insteval", INSTEVAL_FORMULA),
            "lme4": peers.time_lme4_insteval_process(),
            "statsmodels": peers.time_statsmodels_insteval(),
        }
    ss = out["sleepstudy"]
    ratios = {}
    m = ss["mejax"]["median_s"]
    for peer in ("lme4", "statsmodels"):
        if "median_s" in ss[peer]:
            ratios[f"sleepstudy_{peer}_over_mejax"] = ss[peer]["median_s"] / m
    if not quick:
        ie = out["insteval"]
        for cache in ("cold_cache", "warm_cache"):
            mt = ie["mejax"][cache].get("process_s")
            if mt and "process_s" in ie["lme4"]:
                ratios[f"insteval_lme4_over_mejax_{cache}"] = ie["lme4"]["process_s"] / mt
    out["ratios"] = ratios
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "lmm.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
