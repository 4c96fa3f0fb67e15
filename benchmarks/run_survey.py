"""Survey-weighted random-intercept logit: fit plus linearized variance, warm, against glmer.

    python benchmarks/run_survey.py [--rows 50000] [--psus 1000] [--strata 20]

Simulated two-stage design (seeded): ``strata`` strata of ``psus / strata`` PSUs, the
PSUs being the model's clusters, rows within them; PSU weights and row weights vary.
mejax fits ``svy: melogit y x1 x2 || psu:`` (Stata's default mean-variance quadrature,
7 points) with the linearized variance; timed are the first call (tracing and compile
included) and the median of warm calls (new responses of the same shape). R has no
pseudo-likelihood GLMM among Debian's packages, so the peer is glmer's unweighted
Laplace fit on the same data (``r/glmer_survey.R``), the fastest route R offers for
the model itself. Writes ``benchmarks/results/survey.json``.
"""

from __future__ import annotations

import argparse
import json
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

DESIGN = "psu, strata(stratum) weight(w_psu) || _n, weight(w_row)"


def simulate(rows: int, psus: int, strata: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    psu = np.sort(rng.integers(0, psus, rows))
    u = rng.normal(0, 0.7, psus)
    x1, x2 = rng.normal(size=rows), rng.binomial(1, 0.4, rows)
    eta = -0.4 + 0.6 * x1 - 0.5 * x2 + u[psu]
    return pd.DataFrame({
        "psu": psu, "stratum": psu % strata, "x1": x1, "x2": x2,
        "y": rng.binomial(1, 1 / (1 + np.exp(-eta))),
        "w_psu": rng.uniform(20, 80, psus)[psu], "w_row": rng.uniform(1, 4, rows)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--psus", type=int, default=1000)
    parser.add_argument("--strata", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    df = simulate(args.rows, args.psus, args.strata)
    t0 = time.perf_counter()
    import mejax
    import_s = time.perf_counter() - t0

    def fit(frame):
        res = mejax.melogit("y ~ x1 + x2 + (1 | psu)", frame, survey=DESIGN)
        _ = res.fixef_se  # the linearized variance
        return res

    t0 = time.perf_counter()
    first = fit(df)
    first_s = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    warm = []
    for _ in range(args.repeats):
        frame = df.assign(y=rng.permutation(df["y"].to_numpy()))
        t0 = time.perf_counter()
        fit(frame)
        warm.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "survey.csv"
        df.to_csv(csv, index=False)
        peer = peers._rscript("glmer_survey.R", csv, str(args.repeats))
    out = {
        "machine": platform.platform(), "rows": args.rows, "psus": args.psus,
        "strata": args.strata, "import_s": import_s, "first_call_s": first_s,
        "warm_median_s": statistics.median(warm), "warm_s": warm,
        "loglik": first.loglik, "converged": bool(first.converged),
        "design_df": first.sampling.design_df, "glmer": peer,
    }
    if "median_s" in peer:
        out["ratio_glmer_over_mejax"] = peer["median_s"] / out["warm_median_s"]
    path = HERE / "results" / "survey.json"
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
