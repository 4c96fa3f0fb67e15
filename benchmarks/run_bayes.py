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

    PYTHONPATH=. python benchmarks/run_bayes.py        # writes results/bayes.json
"""

from __future__ import annotations

import json
import os
import subprocess
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
}


def time_mejax(command: str, data: str, integrate: str | None = None) -> dict:
    frame = mejax.datasets.load(data)
    t0 = time.perf_counter()
    mejax.bayes(command, frame, seed=1, progress=False, integrate=integrate)
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    fit = mejax.bayes(command, frame, seed=2, progress=False, integrate=integrate)
    sampling = time.perf_counter() - t1
    ess = float(fit.table["ess_bulk"].min())
    return {"first_call_s": first, "compile_s_est": first - sampling, "sampling_s": sampling,
            "min_ess_bulk": ess, "max_rhat": fit.max_rhat, "divergent": fit.divergent,
            "min_ess_per_s": ess / sampling}


def time_stan() -> dict:
    proc = subprocess.run(["Rscript", str(HERE / "r" / "stan_bayes.R")], capture_output=True,
                          text=True, cwd=HERE.parent, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> dict:
    load = os.getloadavg()
    stan = time_stan()
    out = {"machine": f"{os.cpu_count()} cores, load average at start {load[0]:.1f} "
                      "(shared with other agents: timings under load)",
           "stan_compile_s": stan.get("compile_s"), "models": {}}
    for name, (command, data) in MODELS.items():
        mine = time_mejax(command, data)
        integrated = time_mejax(command, data, INTEGRATE[name])
        integrated["integrate"] = INTEGRATE[name]
        peer = stan.get(name, {})
        if "wall_s" in peer:
            peer["min_ess_per_s"] = peer["min_ess_bulk"] / peer["wall_s"]
            for run in (mine, integrated):
                run["ratio_vs_stan"] = run["min_ess_per_s"] / peer["min_ess_per_s"]
        out["models"][name] = {"mejax": mine, "mejax_integrated": integrated, "stan": peer}
        print(name, json.dumps(out["models"][name]))
    out["load_average_end"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    result = main()
    (HERE / "results" / "bayes.json").write_text(json.dumps(result, indent=2) + "\n")
