"""GLMM timings of mejax and lme4's glmer on the same machine, in one run.

    python benchmarks/run_glmm.py [--quick]

- Contraception ``c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district)``,
  Bernoulli logit, Laplace: median warm whole call (data frame in, result with
  standard errors out) against ``glmer`` (whose fit includes its Hessian).
- cbpp ``cbind(incidence, size - incidence) ~ period + (1 | herd)`` with 25-point
  mode-curvature adaptive quadrature (``glmer(nAGQ = 25)``), warm.
- The same cbpp model with Stata's default (mean-variance, 7 points), for reference.
- Parametric bootstrap of the cbpp Laplace fit, 1000 replicates refitted in batch
  (``fit.bootstrap``), in a fresh process with an empty and a warm compilation cache,
  against ``lme4::bootMer`` (``r/glmer_cbpp_bootmer.R``).
- Compile: a fresh process fitting each model with an empty compilation cache
  (cold) and again with the cache it left (warm). ``--quick`` skips these and the bootstrap.

Writes ``benchmarks/results/glmm.json`` and prints ratios (glmer time / mejax time).
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

DATA = HERE.parent / "mejax" / "datasets" / "data"
CONTRACEPTION = "c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district)"
CBPP = "cbind(incidence, size - incidence) ~ C(period) + (1 | herd)"
MODELS = {
    "contraception_laplace": ("contraception", CONTRACEPTION, {"method": "laplace"}),
    "cbpp_mcaghq25": ("cbpp", CBPP, {"method": "mcaghq", "nodes": 25}),
    "cbpp_mvaghq7": ("cbpp", CBPP, {}),
}

PROCESS_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import mejax
df = mejax.datasets.load(sys.argv[1])
r = mejax.melogit(sys.argv[2], df, **json.loads(sys.argv[3]))
r.fixef_se
print(f"{time.perf_counter() - t0} {r.loglik!r} {r.converged}")
"""


BOOTSTRAP_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import mejax
df = mejax.datasets.load("cbpp")
fit = mejax.melogit(sys.argv[1], df, method="laplace")
t1 = time.perf_counter()
boot = fit.bootstrap(int(sys.argv[2]), seed=1, progress=False)
t2 = time.perf_counter()
print(f"{t2 - t0} {t2 - t1} {boot.n_failed}")
"""


def mejax_bootstrap(nsim: int, cache_dir: str) -> dict:
    run = fresh_process(BOOTSTRAP_SCRIPT, CBPP, nsim, cache_dir=cache_dir)
    if "error" in run:
        return run
    inner, boot_s, failed = run["stdout"].split()[-3:]
    return {"process_s": run["process_s"], "in_process_s": float(inner),
            "bootstrap_s": float(boot_s), "per_refit_s": float(boot_s) / nsim,
            "n_failed": int(failed)}


def mejax_warm(name: str, n: int) -> dict:
    """Median seconds of ``n`` whole calls (fit and standard errors) after a warm-up."""
    import mejax

    dataset, formula, kwargs = MODELS[name]
    df = mejax.datasets.load(dataset)
    t0 = time.perf_counter()
    res = mejax.melogit(formula, df, **kwargs)
    _ = res.fixef_se
    first = time.perf_counter() - t0
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        res = mejax.melogit(formula, df, **kwargs)
        _ = res.fixef_se
        times.append(time.perf_counter() - t0)
    return {"peer": "mejax", "model": name, "median_s": statistics.median(times),
            "min_s": min(times), "n": n, "first_call_s": first, "loglik": res.loglik,
            "steps": int(res._fit["steps"]), "converged": res.converged}


def mejax_process(name: str, cache_dir: str) -> dict:
    dataset, formula, kwargs = MODELS[name]
    run = fresh_process(PROCESS_SCRIPT, dataset, formula, json.dumps(kwargs),
                        cache_dir=cache_dir)
    if "error" in run:
        return run
    inner, loglik, converged = run["stdout"].split()[-3:]
    return {"process_s": run["process_s"], "in_process_s": float(inner), "loglik": float(loglik),
            "converged": converged == "True"}


def cold_and_warm(name: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        return {"cold_cache": mejax_process(name, cache), "warm_cache": mejax_process(name, cache)}


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    out: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}}
    out["contraception_laplace"] = {
        "mejax": mejax_warm("contraception_laplace", 20),
        "lme4": peers._rscript("glmer_contraception.R", DATA / "contraception.csv", 20),
    }
    out["cbpp_mcaghq25"] = {
        "mejax": mejax_warm("cbpp_mcaghq25", 50),
        "lme4": peers._rscript("glmer_cbpp_agq25.R", DATA / "cbpp.csv", 50),
    }
    out["cbpp_mvaghq7"] = {"mejax": mejax_warm("cbpp_mvaghq7", 50)}
    ratios: dict[str, float] = {}
    if not quick:
        for name in MODELS:
            out[name]["mejax_process"] = cold_and_warm(name)
        with tempfile.TemporaryDirectory() as cache:
            out["cbpp_bootstrap"] = {
                "mejax_cold_cache": mejax_bootstrap(1000, cache),
                "mejax_warm_cache": mejax_bootstrap(1000, cache),
                "lme4": peers._rscript("glmer_cbpp_bootmer.R", DATA / "cbpp.csv", 1000, 1),
            }
        boot = out["cbpp_bootstrap"]
        for cache in ("mejax_cold_cache", "mejax_warm_cache"):
            if "per_refit_s" in boot[cache] and "per_refit_s" in boot["lme4"]:
                ratios[f"cbpp_bootstrap_lme4_over_{cache}"] = (
                    boot["lme4"]["per_refit_s"] / boot[cache]["per_refit_s"])
    for name in ("contraception_laplace", "cbpp_mcaghq25"):
        peer, ours = out[name]["lme4"], out[name]["mejax"]
        if "median_s" in peer:
            ratios[f"{name}_lme4_over_mejax"] = peer["median_s"] / ours["median_s"]
        if "cpu_median_s" in peer:
            ratios[f"{name}_lme4_cpu_over_mejax"] = peer["cpu_median_s"] / ours["median_s"]
    out["ratios"] = ratios
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "glmm.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
