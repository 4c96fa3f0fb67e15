"""Timings of peer software (R lme4, statsmodels MixedLM) on the benchmark models.

Each ``time_*`` function returns a dict with at least ``peer`` and ``model``; on
failure it holds ``error`` instead of timings. Run this file to time all peers:

    python benchmarks/peers.py [sleepstudy.csv] [insteval.csv[.gz]]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
R_DIR = HERE / "r"
DATA = HERE.parent / "mejax" / "datasets" / "data"
SLEEPSTUDY_CSV = DATA / "sleepstudy.csv"
INSTEVAL_CSV = DATA / "insteval.csv.gz"

INSTEVAL_TIMEOUT_S = 600
# statsmodels needs a dense design over all crossed levels in one group: on 1,000
# random rows a fit takes about 25 s, on 2,000 it did not finish in 900 s.
STATSMODELS_INSTEVAL_ROWS = 1000


def _rscript(script: str, *args: str, timeout: float | None = None) -> dict:
    """Run ``benchmarks/r/<script>`` in a fresh Rscript; its last stdout line is JSON."""
    exe = shutil.which("Rscript")
    if exe is None:
        return {"error": "Rscript not found"}
    cmd = [exe, str(R_DIR / script), *map(str, args)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:g} s"}
    process_s = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"Rscript exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    out = json.loads(lines[-1])
    out["process_s"] = process_s
    return out


def time_lme4_sleepstudy(csv: str | Path = SLEEPSTUDY_CSV, n: int = 200) -> dict:
    """Median seconds of ``n`` warm lme4 ML fits of Reaction ~ Days + (Days | Subject)."""
    return _rscript("lmer_sleepstudy.R", csv, n)


def time_lme4_insteval_process(csv: str | Path = INSTEVAL_CSV, timeout: float = 1800) -> dict:
    """Wall seconds of a fresh Rscript fitting the InstEval crossed model (``process_s``).

    ``process_s`` covers R startup, ``library(lme4)``, reading the CSV and the fit;
    ``fit_s`` and ``read_s`` are the in-process times reported by the script.
    """
    return _rscript("lmer_insteval.R", csv, timeout=timeout)


def _sleepstudy_fit(df):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("Reaction ~ Days", df, groups=df["Subject"], re_formula="~Days")
        return model.fit(reml=False)


def time_statsmodels_sleepstudy(csv: str | Path = SLEEPSTUDY_CSV, n: int = 200) -> dict:
    """Median seconds of ``n`` warm statsmodels MixedLM ML fits (model build + fit)."""
    import pandas as pd
    import statsmodels

    df = pd.read_csv(csv)
    for _ in range(3):
        res = _sleepstudy_fit(df)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        res = _sleepstudy_fit(df)
        times.append(time.perf_counter() - t0)
    return {
        "peer": "statsmodels",
        "model": "sleepstudy",
        "median_s": statistics.median(times),
        "min_s": min(times),
        "n": n,
        "loglik": float(res.llf),
        "converged": bool(res.converged),
        "version": statsmodels.__version__,
    }


def _statsmodels_insteval_worker(csv: str, nrows: int, seed: int) -> dict:
    """Fit the InstEval crossed model as variance components in one group (subprocess body)."""
    import pandas as pd
    import statsmodels
    import statsmodels.formula.api as smf

    df = pd.read_csv(csv)
    if 0 < nrows < len(df):
        df = df.sample(n=nrows, random_state=seed)
    df = df.assign(dept_service=df["dept"].astype(str) + ":" + df["service"].astype(str), one=1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm(
            "y ~ service",
            df,
            groups=df["one"],
            re_formula="0",
            vc_formula={"s": "0 + C(s)", "d": "0 + C(d)", "ds": "0 + C(dept_service)"},
        )
        res = model.fit(reml=False)
    return {
        "fit_s": time.perf_counter() - t0,
        "loglik": float(res.llf),
        "converged": bool(res.converged),
        "nobs": len(df),
        "vcomp": dict(zip(model.exog_vc.names, map(float, res.vcomp), strict=True)),
        "scale": float(res.scale),
        "version": statsmodels.__version__,
    }


def time_statsmodels_insteval(
    csv: str | Path = INSTEVAL_CSV,
    nrows: int = STATSMODELS_INSTEVAL_ROWS,
    seed: int = 1,
    timeout: float = INSTEVAL_TIMEOUT_S,
) -> dict:
    """Time statsmodels MixedLM on InstEval (or ``nrows`` random rows of it; 0 = all).

    MixedLM has no sparse crossed effects: the model is one group with variance
    components for s, d and dept:service, which is only feasible on a small subset.
    Runs in a subprocess killed after ``timeout`` seconds.
    """
    out = {
        "peer": "statsmodels",
        "model": "insteval",
        "nrows": nrows or "all",
        "seed": seed,
    }
    if nrows:
        out["note"] = (
            f"fitted on {nrows} random rows only: dense one-group variance components "
            "make the full 73,421-row fit infeasible"
        )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_statsmodels_insteval",
        str(csv),
        str(nrows),
        str(seed),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        out["error"] = f"did not finish in {timeout:g} s"
        return out
    out["process_s"] = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        out["error"] = f"worker exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
        return out
    out.update(json.loads(lines[-1]))
    return out


def main(argv: list[str]) -> None:
    """Time every peer and print one JSON line each."""
    if argv and argv[0] == "_statsmodels_insteval":
        print(json.dumps(_statsmodels_insteval_worker(argv[1], int(argv[2]), int(argv[3]))))
        return
    sleep_csv = argv[0] if argv else SLEEPSTUDY_CSV
    inst_csv = argv[1] if len(argv) > 1 else INSTEVAL_CSV
    for result in (
        time_lme4_sleepstudy(sleep_csv),
        time_statsmodels_sleepstudy(sleep_csv),
        time_lme4_insteval_process(inst_csv),
        time_statsmodels_insteval(inst_csv),
    ):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
