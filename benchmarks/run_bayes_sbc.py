"""Simulation-based calibration of mejax.bayes: 200 replications in one compiled call.

Model: y = b0 + b1 x + u_g + e, 12 groups of 5 (a linear random-intercept model),
priors normal(0, 1) on the coefficients, igamma(3, 2) on var(u) and var(e).
Each replication: 1 chain, 300 warm-up steps, 99 draws thinned by 3; the rank
of each true parameter among the 99 draws is binned into 10 bins and tested
for uniformity (chi-square, 9 df).

    PYTHONPATH=. python benchmarks/run_bayes_sbc.py   # writes results/bayes_sbc.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mejax.bayes.calibration import calibrate
from mejax.spec.design import build_design
from mejax.spec.stata import parse_stata

PRIORS = {"{y:}": "normal(0, 1)", "{var_U0}": "igamma(3, 2)", "{e.y:sigma2}": "igamma(3, 2)"}


def main(n_reps: int = 200) -> dict:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(12), 5)
    data = pd.DataFrame({"y": rng.normal(size=g.size), "x": rng.normal(size=g.size), "g": g})
    design = build_design(parse_stata("mixed y x || g:"), data)
    t0 = time.perf_counter()
    cal = calibrate(design, PRIORS, n_reps=n_reps, seed=2)
    wall = time.perf_counter() - t0
    tests = cal.rank_test(10)
    out = {"n_reps": n_reps, "draws_per_rep": cal.n_draws, "bins": 10, "wall_s": wall,
           "divergent_reps": int((cal.divergent > 0).sum()),
           "parameters": {n: {"chi2": float(t.statistic), "p": float(t.pvalue)}
                          for n, t in tests.items()},
           "note": "timings on a shared 2-core machine under load"}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    result = main()
    path = Path(__file__).parent / "results" / "bayes_sbc.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
