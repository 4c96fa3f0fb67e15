"""Censored and survival timings of mejax and R's survreg on the same machine, in one run.

    python benchmarks/run_censored.py [--quick]

- Weibull PH random intercept: 10,000 subjects in 500 clusters (``mestreg x1 x2 ||
  cluster:, distribution(weibull)``, Stata's default 7-point mean-variance quadrature),
  median warm whole call (data frame in, result with standard errors out).
- Tobit random intercept: 20,000 rows in 500 clusters, ``ll(0)``, same integration.
- R's peer: ``survival::survreg`` on the same data without the random intercept
  (``benchmarks/r/survreg_censored.R``): the fastest R route, a lower bound for R, since
  neither glmmTMB nor lme4 fits tobit or parametric survival mixed models.

Writes ``benchmarks/results/censored.json`` and prints the ratio survreg / mejax.
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

import mejax  # noqa: E402


def weibull_data(rng: np.random.Generator) -> pd.DataFrame:
    clusters, per = 500, 20
    g = np.repeat(np.arange(clusters), per)
    x1, x2 = rng.normal(size=g.size), rng.binomial(1, 0.5, g.size).astype(float)
    eta = -2.0 + 0.4 * x1 - 0.5 * x2 + rng.normal(0, 0.6, clusters)[g]
    p = 1.3
    t = (-np.log(rng.uniform(size=g.size)) / np.exp(eta)) ** (1 / p)
    c = rng.exponential(8.0, g.size)
    return pd.DataFrame({"time": np.minimum(t, c), "fail": (t <= c).astype(float), "x1": x1,
                         "x2": x2, "cluster": g})


def tobit_data(rng: np.random.Generator) -> pd.DataFrame:
    clusters, per = 500, 40
    g = np.repeat(np.arange(clusters), per)
    x1, x2 = rng.normal(size=g.size), rng.normal(size=g.size)
    y = 0.3 + 0.6 * x1 - 0.4 * x2 + rng.normal(0, 0.7, clusters)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": np.maximum(y, 0.0), "x1": x1, "x2": x2, "cluster": g})


def time_mejax(fit, reps: int) -> dict:
    t0 = time.perf_counter()
    first = fit()
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = fit()
        times.append(time.perf_counter() - t0)
    return {"first_call_s": first_s, "median_s": statistics.median(times),
            "loglik": r.loglik, "converged": r.converged, "loglik_first": first.loglik}


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    reps = 2 if quick else 5
    rng = np.random.default_rng(2026)
    weib, tob = weibull_data(rng), tobit_data(rng)

    def fit_weibull():
        r = mejax.stata("mestreg x1 x2 || cluster:, distribution(weibull)", weib,
                        st="time, failure(fail)")
        _ = r.fixef_se, r.aux  # standard errors included
        return r

    def fit_tobit():
        r = mejax.stata("metobit y x1 x2 || cluster:, ll(0)", tob)
        _ = r.fixef_se, r.aux
        return r

    out = {"machine": platform.platform(), "note": "timings taken while other jobs shared "
           "the machine (load average reported)", "load_average": list(os.getloadavg())}
    out["weibull_ri_10k"] = time_mejax(fit_weibull, reps)
    out["tobit_ri_20k"] = time_mejax(fit_tobit, reps)
    with tempfile.TemporaryDirectory() as tmp:
        w_csv, t_csv = Path(tmp) / "w.csv", Path(tmp) / "t.csv"
        weib.to_csv(w_csv, index=False)
        tob.to_csv(t_csv, index=False)
        out["survreg"] = peers._rscript("survreg_censored.R", str(w_csv), str(t_csv),
                                        str(reps))
    for key, peer in (("weibull_ri_10k", "weibull"), ("tobit_ri_20k", "tobit")):
        r = out["survreg"].get(peer, {})
        if "median_s" in r:
            out[key]["survreg_no_re_s"] = r["median_s"]
            out[key]["survreg_over_mejax"] = r["median_s"] / out[key]["median_s"]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "censored.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
