"""Compile time of a first fit against the number of fixed effects p, side by side with lme4.

    python benchmarks/run_compile_p.py [--levels 1 4 9 24 49 99] [--no-r]

For each number of levels L of a factor f (p = L + 1 columns with the constant and x),
simulated data on 3,000 rows in 50 groups, a random-intercept ``mixed`` (ML) and
``melogit`` (Stata's default: mean-variance adaptive quadrature, 7 points) are fitted in a
fresh process with an empty compilation cache, then the printed table with its
variance-component standard errors. Reported: the process's wall time, and inside it the
import, the fit and the table. lme4 (``lmer`` + ``summary``, ``glmer(nAGQ = 7)`` +
``summary``) fits the same CSV in a fresh ``Rscript`` in the same run.

Writes ``benchmarks/results/compile_p.json`` and prints one row per model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
from fresh import fresh_process  # noqa: E402

ROWS, GROUPS = 3000, 50

PROCESS_SCRIPT = """
import contextlib, io, sys, time
t0 = time.perf_counter()
import pandas as pd
import mejax
t1 = time.perf_counter()
df = pd.read_csv(sys.argv[2])
df["f"] = pd.Categorical(df["f"])
rhs = "x + f" if df["f"].nunique() > 1 else "x"
if sys.argv[1] == "mixed":
    fit = mejax.mixed(f"y ~ {rhs} + (1 | g)", df)
else:
    fit = mejax.melogit(f"b ~ {rhs} + (1 | g)", df)
t2 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    fit.summary()
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, repr(fit.loglik), fit.converged)
"""


def simulate(levels: int, path: Path) -> None:
    rng = np.random.default_rng(levels)
    g = rng.integers(0, GROUPS, ROWS)
    f = rng.integers(0, levels, ROWS)
    x = rng.normal(size=ROWS)
    eta = 0.5 * x + 0.5 * np.sin(f) + rng.normal(size=GROUPS)[g]
    y = eta + rng.normal(size=ROWS)
    b = (rng.uniform(size=ROWS) < 1 / (1 + np.exp(-eta))).astype(int)
    pd.DataFrame({"y": y, "b": b, "x": x, "f": f, "g": g}).to_csv(path, index=False)


def time_mejax(kind: str, csv: Path) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        run = fresh_process(PROCESS_SCRIPT, kind, csv, cache_dir=cache)
    if "error" in run:
        return run
    imp, fit, table, loglik, converged = run["stdout"].split()[-5:]
    return {"process_s": run["process_s"], "import_s": float(imp), "fit_s": float(fit),
            "table_s": float(table), "loglik": float(loglik), "converged": converged == "True"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 9, 24, 49, 99])
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for levels in args.levels:
            csv = Path(tmp) / f"p{levels}.csv"
            simulate(levels, csv)
            for kind in ("mixed", "melogit"):
                row = {"kind": kind, "levels": levels, "p": levels + 1,
                       "mejax": time_mejax(kind, csv)}
                if not args.no_r:
                    row["lme4"] = peers._rscript("compile_p.R", kind, csv, timeout=600)
                rows.append(row)
                m, r = row["mejax"], row.get("lme4", {})
                print(f"{kind:8s} p={row['p']:3d}  mejax process {m.get('process_s', 0):5.2f} s "
                      f"(import {m.get('import_s', 0):.2f}, fit {m.get('fit_s', 0):.2f}, "
                      f"table {m.get('table_s', 0):.2f})  lme4 process "
                      f"{r.get('process_s', float('nan')):5.2f} s  loglik "
                      f"{m.get('loglik')} / {r.get('loglik')}", flush=True)
    out = {"machine": platform.machine(), "python": platform.python_version(),
           "rows": ROWS, "groups": GROUPS, "cache": "empty (fresh MEJAX_CACHE_DIR)",
           "results": rows}
    path = HERE / "results" / "compile_p.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
