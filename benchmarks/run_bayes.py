"""Minimum bulk ESS per second: mejax.bayes (blackjax NUTS) against Stan, side by side.

Same models, priors and data as tests/reference/bayes (sleepstudy bayes: mixed,
cbpp bayes: melogit, epilepsy bayes: mepoisson), both with 4 chains, 1000
warm-up steps and 1000 draws. mejax: the first call compiles and samples; the
second (another seed, same program) is timed as sampling. Stan: compile timed
once, sampling with cores = 2 (r/stan_bayes.R). Sampling time is warm-up plus
draws for both. Each model is also sampled with its random effects integrated
out (``integrate=``: Laplace for the linear model, where it is exact, 7-point
mean-variance quadrature for the GLMMs), the same posterior of the
hyperparameters in far fewer dimensions.

The nonlinear model (Orange trees' logistic growth, ``bayes: menl`` with the priors of
tests/reference/bayes/make_refs_bayes_menl.R) has no integrated variant; its Stan program
(nonlinear_orange.stan) is compiled and timed separately (r/stan_bayes_menl.R). Its
sampling time includes menl's maximum-likelihood fit, which starts the chains.

    PYTHONPATH=. python benchmarks/run_bayes.py        # writes results/bayes.json
    PYTHONPATH=. python benchmarks/run_bayes.py orange_menl   # results/bayes_orange_menl.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mejax

HERE = Path(__file__).resolve().parent
INTEGRATE = {"sleepstudy_mixed": "laplace", "cbpp_melogit": "mvaghq",
             "epilepsy_mepoisson": "mvaghq"}
MODELS = {
    "sleepstudy_mixed": ("mixed Reaction Days || Subject: Days", "sleepstudy"),
    "cbpp_melogit": ("melogit incidence i.period || herd:, binomial(size)", "cbpp"),
    "epilepsy_mepoisson": ("mepoisson y lbase trt lbase_trt lage V4 || subject:", "epilepsy"),
    "orange_menl": ("menl circumference = ({b1}+{U[Tree]})/(1+exp(-(age-{b2})/{b3})), "
                    "initial(b1 200 b2 700 b3 350)", "Orange"),
}
PRIORS = {"orange_menl": {"{b1}": "normal(200, 10000)", "{b2}": "normal(700, 40000)",
                          "{b3}": "normal(350, 10000)", "{var_U}": "igamma(2, 1000)"}}
STAN_SCRIPTS = {"orange_menl": "stan_bayes_menl.R"}  # the others: stan_bayes.R


def time_mejax(command: str, data: str, integrate: str | None = None,
               priors: dict | None = None) -> dict:
    frame = mejax.datasets.load(data)
    t0 = time.perf_counter()
    mejax.bayes(command, frame, seed=1, progress=False, integrate=integrate, priors=priors)
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    fit = mejax.bayes(command, frame, seed=2, progress=False, integrate=integrate,
                      priors=priors)
    sampling = time.perf_counter() - t1
    ess = float(fit.table["ess_bulk"].min())
    return {"first_call_s": first, "compile_s_est": first - sampling, "sampling_s": sampling,
            "min_ess_bulk": ess, "max_rhat": fit.max_rhat, "divergent": fit.divergent,
            "min_ess_per_s": ess / sampling}


def time_stan(script: str = "stan_bayes.R") -> dict:
    proc = subprocess.run(["Rscript", str(HERE / "r" / script)], capture_output=True,
                          text=True, cwd=HERE.parent, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(names: list[str]) -> dict:
    load = os.getloadavg()
    scripts = dict.fromkeys(STAN_SCRIPTS.get(n, "stan_bayes.R") for n in names)
    stan = {script: time_stan(script) for script in scripts}
    out = {"machine": f"{os.cpu_count()} cores, load average at start {load[0]:.1f} "
                      "(shared with other agents: timings under load)",
           "stan_compile_s": {s: r.get("compile_s") for s, r in stan.items()}, "models": {}}
    for name in names:
        command, data = MODELS[name]
        runs = {"mejax": time_mejax(command, data, priors=PRIORS.get(name))}
        if name in INTEGRATE:
            runs["mejax_integrated"] = time_mejax(command, data, INTEGRATE[name])
            runs["mejax_integrated"]["integrate"] = INTEGRATE[name]
        peer = stan[STAN_SCRIPTS.get(name, "stan_bayes.R")].get(name, {})
        if "wall_s" in peer:
            peer["min_ess_per_s"] = peer["min_ess_bulk"] / peer["wall_s"]
            for run in runs.values():
                run["ratio_vs_stan"] = run["min_ess_per_s"] / peer["min_ess_per_s"]
        out["models"][name] = {**runs, "stan": peer}
        print(name, json.dumps(out["models"][name]))
    out["load_average_end"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(MODELS)
    unknown = [n for n in chosen if n not in MODELS]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}; models: {', '.join(MODELS)}")
    result = main(chosen)
    target = "bayes.json" if chosen == list(MODELS) else f"bayes_{'_'.join(chosen)}.json"
    (HERE / "results" / target).write_text(json.dumps(result, indent=2) + "\n")
