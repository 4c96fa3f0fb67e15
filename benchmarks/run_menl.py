"""Nonlinear mixed models: mejax.menl against nlme::nlme, same data and models, one run.

    python benchmarks/run_menl.py [--repeats 5] [--studies 1000] [--r-studies 200]
                                  [--batch-studies 1000] [--lanes 1 4] [--no-pk]

Models (Lindstrom-Bates, ML): Orange (logistic growth, random asymptote per tree),
Soybean (the same with 48 plots), Theoph (first-order PK, random log clearance and log
absorption per subject), and two with residual structures: Orange with AR(1) errors within
trees (``rescorrelation(ar 1, t(occasion))``) and Soybean with continuous-time AR(1)
errors and a power-of-the-mean variance. Timed:

- warm fits: the median whole call of ``mejax.menl`` (data frame in, result out, with its
  first compile done) against the median ``nlme()`` call in R;
- a batch of simulated PK studies (Theoph's design, responses drawn from the fitted
  Theoph model): the first ``--batch-studies`` refitted by mejax in one compiled call
  (``MenlResult.refit_batch``, for each of ``--lanes``: fits vmapped that many at a time,
  the groups one after another; the first call, with its compile, reported separately),
  and a Python loop of warm ``mejax.menl`` fits over all ``--studies``, against a loop of
  ``nlme()`` fits in R over the first ``--r-studies`` (per-fit times compared). Under
  ``vmap`` every fit of a group runs as many iterations as its slowest at every nested
  loop, so wider lanes cost more per fit on CPU. The studies are drawn by
  ``MenlResult.simulate``; the same batch also through ``mejax.fit_batch`` (chunks of the
  shared batch path) and as ``MenlResult.bootstrap`` (simulation and refits).

Writes ``benchmarks/results/menl.json`` and prints the ratios (nlme / mejax). The shared
machine's load at the time goes into the output: timings under load are noisy.
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

import jax.numpy as jnp
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

import mejax  # noqa: E402

DATA = HERE.parent / "mejax" / "datasets" / "data"


def first_order(p, d):
    ke, ka, cl = jnp.exp(p["lKe"]), jnp.exp(p["lKa"] + p["U1"]), jnp.exp(p["lCl"] + p["U0"])
    return d["Dose"] * ke * ka / (cl * (ka - ke)) * (jnp.exp(-ke * d["Time"]) -
                                                      jnp.exp(-ka * d["Time"]))


MODELS = {
    "orange": lambda: (("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})), "
                        "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353)"),
                       mejax.datasets.load("orange"), {}),
    "soybean": lambda: (("menl weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                         "initial(b1 19 b2 55 b3 8)"), mejax.datasets.load("soybean"), {}),
    "theoph": lambda: (first_order, mejax.datasets.load("theoph"),
                       dict(response="conc", fixed={"lKe": -2.4, "lKa": 0.45, "lCl": -3.2},
                            random={"U0": "Subject", "U1": "Subject"})),
    # residual structures: nlme's corAR1(~occasion | Tree), corCAR1(~Time | Plot) + varPower
    "orange_ar1": lambda: (("menl circumference = ({b1}+{U[Tree]})/(1+exp(-(age-{b2})/{b3})), "
                            "initial(b1 192 b2 728 b3 353) rescorrelation(ar 1, t(occasion))"),
                           _with_occasion(mejax.datasets.load("orange")), {}),
    "soybean_ctar1_power": lambda: (("menl weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                                     "initial(b1 19 b2 55 b3 8) resvariance(power _yhat, "
                                     "noconstant) rescorrelation(ctar1, t(Time))"),
                                    mejax.datasets.load("soybean"), {}),
}


def _with_occasion(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(occasion=df.groupby("Tree")["age"].rank())


def warm_fit(name: str, repeats: int) -> dict:
    mean, df, kw = MODELS[name]()
    t0 = time.perf_counter()
    res = mejax.menl(mean, df, **kw)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = mejax.menl(mean, df, **kw)
        times.append(time.perf_counter() - t0)
    return {"first_s": first, "fit_s": statistics.median(times), "loglik": res.loglik,
            "converged": res.converged}


def timed_batch(call, studies: int) -> dict:
    """First call (with its compile) and the median of three warm calls of a batch run."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        batch = call()
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    return {"studies": studies, "first_call_s": first, "batch_s": wall,
            "per_fit_ms": 1e3 * wall / studies, "converged": int(batch.converged.sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--r-studies", type=int, default=200)
    ap.add_argument("--batch-studies", type=int, default=1000,
                    help="studies in the one-call batch (refit_batch)")
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 4],
                    help="refit_batch's lanes (fits vmapped at a time), each timed")
    ap.add_argument("--no-pk", action="store_true",
                    help="only the warm fits (no simulated PK studies)")
    args = ap.parse_args()
    if args.no_pk:
        args.studies = args.r_studies = args.batch_studies = 0
    load = os.getloadavg()
    out = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_before": load,
           "mejax": {}}
    for name in MODELS:
        out["mejax"][name] = warm_fit(name, args.repeats)
        print(name, out["mejax"][name], flush=True)

    mean, df, kw = MODELS["theoph"]()
    res = mejax.menl(mean, df, **kw)
    ys = res.simulate(max(args.studies, 1), seed=1)[:args.studies]
    t0, c0 = time.perf_counter(), time.process_time()
    loop_ok = sum(mejax.menl(mean, df.assign(conc=y), **kw).converged for y in ys)
    loop_s, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    batch_ys = ys[:args.batch_studies]
    batch_s = {}
    for lanes in args.lanes if len(batch_ys) else []:
        t0 = time.perf_counter()
        batch = res.refit_batch(batch_ys, lanes=lanes)
        first = time.perf_counter() - t0
        walls, cpus = [], []
        for _ in range(3):  # the median of three: one call is exposed to the machine's load
            t0, c0 = time.perf_counter(), time.process_time()
            batch = res.refit_batch(batch_ys, lanes=lanes)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        batch_s[lanes] = statistics.median(walls)
        out["mejax"][f"pk_batch_lanes{lanes}"] = {
            "studies": len(batch_ys), "first_call_s": first, "batch_s": batch_s[lanes],
            "batch_s_all": walls, "cpu_s": statistics.median(cpus),
            "compile_s": first - batch_s[lanes],
            "per_fit_ms": 1e3 * batch_s[lanes] / len(batch_ys),
            "converged": int(batch["converged"].sum()),
            "max_iterations": int(batch["iterations"].max())}
        print("pk batch", lanes, out["mejax"][f"pk_batch_lanes{lanes}"], flush=True)
    if len(batch_ys):  # the shared path: mejax.fit_batch (chunks) and the bootstrap
        out["mejax"]["pk_fit_batch"] = timed_batch(lambda: mejax.fit_batch(res, batch_ys),
                                                   len(batch_ys))
        out["mejax"]["pk_bootstrap"] = timed_batch(
            lambda: res.bootstrap(len(batch_ys), seed=2, progress=False).batch, len(batch_ys))
        print("pk fit_batch / bootstrap", out["mejax"]["pk_fit_batch"],
              out["mejax"]["pk_bootstrap"], flush=True)
    out["mejax"]["pk_loop"] = {"studies": args.studies, "loop_s": loop_s, "cpu_s": loop_cpu,
                               "per_fit_ms": 1e3 * loop_s / max(args.studies, 1),
                               "converged": int(loop_ok)}
    print("pk loop", out["mejax"]["pk_loop"], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        pk_csv = Path(tmp) / "pk.csv"
        pd.DataFrame({"study": np.repeat(np.arange(args.studies), ys.shape[1]),
                      "conc": ys.ravel()}).to_csv(pk_csv, index=False)
        r = peers._rscript("nlme_menl.R", str(DATA), str(args.repeats), str(pk_csv),
                           str(args.r_studies), timeout=3600)
    out["nlme"] = r
    out["load_after"] = os.getloadavg()
    if "error" not in r:
        out["ratios_nlme_over_mejax"] = {
            name: r[name]["fit_s"] / out["mejax"][name]["fit_s"] for name in MODELS}
        ratios = out["ratios_nlme_over_mejax"]
        if args.studies and args.r_studies:
            per_r = r["pk_loop"]["loop_s"] / r["pk_loop"]["studies"]
            for lanes, seconds in batch_s.items():
                ratios[f"pk_per_fit_batch_lanes{lanes}"] = per_r / (seconds / len(batch_ys))
            ratios["pk_per_fit_loop"] = per_r / (loop_s / args.studies)
            if 1 in batch_s:  # the loop of warm single fits over the one-call batch, per fit
                ratios["pk_loop_over_batch"] = (loop_s / args.studies) / (batch_s[1] /
                                                                          len(batch_ys))
                ratios["pk_loop_over_batch_cpu"] = (loop_cpu / args.studies) / (
                    out["mejax"]["pk_batch_lanes1"]["cpu_s"] / len(batch_ys))
        out["loglik_difference"] = {name: out["mejax"][name]["loglik"] - r[name]["loglik"]
                                    for name in MODELS}
    print(json.dumps(out, indent=1))
    name = "menl_warm.json" if args.no_pk else "menl.json"
    (HERE / "results" / name).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
