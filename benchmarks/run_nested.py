"""Time and peak memory of nested adaptive quadrature with vector effects at several levels.

    python benchmarks/run_nested.py [--rows 816,1000,10000,100000] [--levels 2,3]
                                    [--timeout 600] [--label after]
    python benchmarks/run_nested.py --case ROWS LEVELS   # one case, in this process
    python benchmarks/run_nested.py --evaluate ROWS LEVELS [--gradient]  # one log likelihood

The seed page's command ``melogit y x1 x2 i.a || group: x1 || id: x2`` (Stata's default
mean-variance adaptive quadrature, 7 points, two effects at each of two nested levels) on
simulated data of that structure, and a three-level version with a random intercept at a
middle level (``|| group: x1 || sub: || id: x2``: 7⁵ nodes per row as a product grid).
Every case runs in a fresh subprocess; it reports the first call (trace + compile + fit +
standard errors), the second, warm call, and the process's peak resident memory
(``resource.getrusage`` max RSS), with the warm call's CPU seconds (``time.process_time``:
less inflated than its wall time when other jobs share the machine). Writes
``benchmarks/results/nested.json`` (one entry per ``--label``, so before/after figures sit
side by side).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COMMANDS = {
    2: "melogit y x1 x2 i.a || group: x1 || id: x2",
    3: "melogit y x1 x2 i.a || group: x1 || sub: || id: x2",
}
ROWS_PER_ID, IDS_PER_SUB, SUBS_PER_GROUP = 8, 6, 3


def nested_data(rows: int, levels: int, seed: int = 17) -> pd.DataFrame:
    """Binary outcome; groups > (subgroups >) ids of 8 rows; effects as the command fits."""
    rng = np.random.default_rng(seed)
    ident = np.arange(rows) // ROWS_PER_ID
    n_ids = ident[-1] + 1
    per_group = IDS_PER_SUB * (SUBS_PER_GROUP if levels == 3 else 1)
    group = ident // per_group
    sub = ident // IDS_PER_SUB
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    a = rng.integers(1, 4, rows)
    g_int, g_x1 = rng.normal(0, 0.6, group[-1] + 1), rng.normal(0, 0.3, group[-1] + 1)
    i_int, i_x2 = rng.normal(0, 0.7, n_ids), rng.normal(0, 0.4, n_ids)
    eta = (0.2 + 0.5 * x1 - 0.4 * x2 + 0.3 * (a == 2) - 0.2 * (a == 3)
           + g_int[group] + g_x1[group] * x1 + i_int[ident] + i_x2[ident] * x2)
    if levels == 3:
        eta = eta + rng.normal(0, 0.4, sub[-1] + 1)[sub]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "a": a, "group": group, "sub": sub,
                         "id": ident})


def run_case(rows: int, levels: int) -> dict:
    """One case in this process: first and warm call, peak RSS (the JSON printed last)."""
    import mejax

    data = nested_data(rows, levels)

    def fit():
        res = mejax.stata(COMMANDS[levels], data)
        _ = res.fixef_se, res.varcomp  # standard errors included
        return res

    t0 = time.perf_counter()
    first = fit()
    first_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    warm = fit()
    warm_s, warm_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": rows, "levels": levels, "command": COMMANDS[levels],
            "first_call_s": first_s, "warm_s": warm_s, "warm_cpu_s": warm_cpu_s,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "loglik": float(warm.loglik), "loglik_first": float(first.loglik),
            "converged": bool(warm.converged)}


def evaluate(rows: int, levels: int, gradient: bool) -> dict:
    """One compiled log likelihood (with ``gradient``, the fit's value and gradient) at the
    start values: where a whole fit takes too long, its time and the process's peak memory."""
    import jax
    import jax.numpy as jnp

    from mejax.fit.glmm import loglik_and_gradient, prepare
    from mejax.models.glmm import marginal_loglik
    from mejax.spec.design import build_design
    from mejax.spec.stata import parse_stata

    design = build_design(parse_stata(COMMANDS[levels]), nested_data(rows, levels))
    model, arrays = prepare(design, "mvaghq", 7)
    theta = np.concatenate([s.theta_init() for s in model.structures])
    params = jnp.asarray(np.concatenate([np.zeros(design.x.shape[1]), theta]))
    fn = jax.jit(lambda p: (loglik_and_gradient if gradient else marginal_loglik)(
        p, arrays, model))
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(params))
        times.append(time.perf_counter() - t0)
    return {"rows": rows, "levels": levels, "evaluation": "value and gradient" if gradient
            else "value", "first_s": times[0], "warm_s": times[1],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_fresh(rows: int, levels: int, timeout: float) -> dict:
    """:func:`run_case` in a fresh subprocess; a timeout or failure is recorded as such."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", str(rows), str(levels)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"rows": rows, "levels": levels, "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"rows": rows, "levels": levels, "error": proc.stderr[-600:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0
    return out


def _option(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> None:
    if "--evaluate" in argv:
        i = argv.index("--evaluate")
        print(json.dumps(evaluate(int(argv[i + 1]), int(argv[i + 2]), "--gradient" in argv)))
        return
    if "--case" in argv:
        i = argv.index("--case")
        print(json.dumps(run_case(int(argv[i + 1]), int(argv[i + 2]))))
        return
    rows = [int(r) for r in _option(argv, "--rows", "816,1000,10000,100000").split(",")]
    levels = [int(v) for v in _option(argv, "--levels", "2,3").split(",")]
    timeout = float(_option(argv, "--timeout", "600"))
    label = _option(argv, "--label", "after")
    path = HERE / "results" / "nested.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    cases = []
    for lv in levels:
        for n in rows:
            case = run_fresh(n, lv, timeout)
            print(json.dumps(case), flush=True)
            cases.append(case)
    saved[label] = {"machine": platform.platform(), "load_average": list(os.getloadavg()),
                    "note": "timings taken while other jobs shared the machine", "cases": cases}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
