"""AR(1) residuals with a random intercept: mejax against nlme::lme, same data, one run.

    python benchmarks/run_residuals.py [--groups 10000] [--times 10]

The model is ``y ~ x + (1 | id)`` with AR(1) errors within id (Stata:
``mixed y x || id:, residuals(ar 1, t(time))``), ML, on simulated data: 10,000
groups of 10 observations (100,000 rows), ρ = 0.5. Timed:

- mejax in-process: median whole call (data frame in, result out) after a warm-up;
  the standard errors of the variance parameters (a second compiled call) separately;
- mejax fresh process, import to result, with an empty and with a warm compile cache;
- nlme: the ``lme()`` call and the whole Rscript process.

Writes ``benchmarks/results/residuals.json`` and prints the ratios (nlme / mejax).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

FORMULA = "y ~ x + (1 | id)"
RESIDUALS = "ar 1, t(time)"
PROCESS_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import mejax, pandas as pd
df = pd.read_csv(sys.argv[1])
r = mejax.mixed(sys.argv[2], df, residuals=sys.argv[3])
print(f"{time.perf_counter() - t0} {r.loglik!r} {r.converged}")
"""


def simulate(groups: int, times: int, rho: float = 0.5, seed: int = 1) -> pd.DataFrame:
    """Random intercept (variance 1) plus stationary AR(1) errors (variance 1)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), times)
    t = np.tile(np.arange(1, times + 1), groups)
    eps = rng.normal(size=(groups, times))
    err = np.empty((groups, times))
    err[:, 0] = eps[:, 0]
    for j in range(1, times):
        err[:, j] = rho * err[:, j - 1] + np.sqrt(1 - rho**2) * eps[:, j]
    x = rng.normal(size=groups * times)
    u = rng.normal(size=groups)[g]
    return pd.DataFrame({"id": g, "time": t, "x": x, "y": 1 + 0.5 * x + u + err.ravel()})


def mejax_in_process(df: pd.DataFrame, n: int = 5) -> dict:
    import mejax

    res = mejax.mixed(FORMULA, df, residuals=RESIDUALS)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        res = mejax.mixed(FORMULA, df, residuals=RESIDUALS)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    vc = res.varcomp
    se_first = time.perf_counter() - t0
    res2 = mejax.mixed(FORMULA, df, residuals=RESIDUALS)
    t0 = time.perf_counter()
    res2.varcomp  # noqa: B018 - compiled already: the run time of the Hessian alone
    se_warm = time.perf_counter() - t0
    rho = float(vc.loc[vc["label"] == "rho", "estimate"].iloc[0])
    return {"peer": "mejax", "median_s": statistics.median(times), "min_s": min(times),
            "std_errors_first_s": se_first, "std_errors_warm_s": se_warm,
            "loglik": res.loglik, "rho": rho, "converged": res.converged,
            "steps": int(res._fit["steps"])}


def mejax_process(csv: str, cache_dir: str) -> dict:
    env = {**os.environ, "MEJAX_CACHE_DIR": cache_dir}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROCESS_SCRIPT, csv, FORMULA, RESIDUALS],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-500:]}
    inner, loglik, converged = proc.stdout.split()[-3:]
    return {"process_s": wall, "in_process_s": float(inner), "loglik": float(loglik),
            "converged": converged == "True"}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--times", type=int, default=10)
    args = parser.parse_args(argv)
    df = simulate(args.groups, args.times)
    out: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                 "model": {"formula": FORMULA, "residuals": RESIDUALS, "nobs": len(df),
                           "groups": args.groups}}
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "ar1.csv")
        df.to_csv(csv, index=False)
        with tempfile.TemporaryDirectory() as cache:
            out["mejax_process"] = {"cold_cache": mejax_process(csv, cache),
                                    "warm_cache": mejax_process(csv, cache)}
        out["mejax"] = mejax_in_process(df)
        out["nlme"] = peers._rscript("lme_ar1.R", csv, timeout=3600)
    ratios = {}
    nlme = out["nlme"]
    if "fit_s" in nlme:
        ratios["nlme_fit_over_mejax_fit"] = nlme["fit_s"] / out["mejax"]["median_s"]
        ratios["nlme_fit_over_mejax_fit_with_std_errors"] = nlme["fit_s"] / (
            out["mejax"]["median_s"] + out["mejax"]["std_errors_warm_s"])
        for cache in ("cold_cache", "warm_cache"):
            mt = out["mejax_process"][cache].get("process_s")
            if mt:
                ratios[f"nlme_process_over_mejax_process_{cache}"] = nlme["process_s"] / mt
        ratios["loglik_difference"] = out["mejax"]["loglik"] - nlme["loglik"]
    out["ratios"] = ratios
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "residuals.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
