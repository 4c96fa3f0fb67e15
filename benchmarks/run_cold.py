"""A user's first command, in fresh processes: mejax with an empty and a warm compile cache
against a fresh Rscript (library(lme4) + fit + summary), side by side in one run.

    python benchmarks/run_cold.py [--reps 3] [--empty-reps 3] [--only sleep_ml,cbpp_agq] [--no-r]
                                  [--root CHECKOUT] [--out cold.json]

Each mejax timing is the whole process of the command line a user types,
``mejax "<command>" --data NAME`` (run as ``python -m mejax.cli`` so the checkout under
test is the one timed: this one, or ``--root``, e.g. a worktree of main for a before
table), printing the estimation table with the variance-component SEs.
"Empty" gives every repetition a new cache directory; "warm" reuses the one the empty runs
left. Also times ``import mejax`` alone and lists its slowest imports (``-X importtime``).

Writes ``benchmarks/results/cold.json`` and prints a markdown table (medians).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "mejax" / "datasets" / "data"
CHECKOUT = ROOT  # the mejax sources timed (--root)

# name: (mejax command, data set, R code fitting the same model from `d` and printing it)
MODELS: dict[str, tuple[str, str, str]] = {
    "sleep_ml": ("mixed Reaction Days || Subject: Days", "sleepstudy",
                 "f <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), d, "
                 "REML = FALSE)"),
    "sleep_reml": ("mixed Reaction Days || Subject: Days, reml", "sleepstudy",
                   "f <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), d)"),
    "pastes": ("mixed strength || batch: || cask:, reml", "pastes",
               "f <- lmer(strength ~ 1 + (1 | batch/cask), d)"),
    "penicillin": ("mixed diameter || _all: R.plate || _all: R.sample, reml", "penicillin",
                   "f <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), d)"),
    "cbpp_agq": ("melogit incidence i.period || herd:, binomial(size)", "cbpp",
                 "f <- glmer(cbind(incidence, size - incidence) ~ factor(period) + (1 | herd), "
                 "d, binomial, nAGQ = 7)"),
    "cbpp_laplace": ("melogit incidence i.period || herd:, binomial(size) laplace", "cbpp",
                     "f <- glmer(cbind(incidence, size - incidence) ~ factor(period) + "
                     "(1 | herd), d, binomial)"),
    "wine": ("meologit rating warm contact || judge:", "wine",
             "library(ordinal); f <- clmm(factor(rating, ordered = TRUE) ~ warm + contact + "
             "(1 | judge), d, nAGQ = 7)"),
    "epilepsy": ("mepoisson y lbase trt lbase_trt lage V4 || subject:", "epilepsy",
                 "f <- glmer(y ~ lbase + trt + lbase_trt + lage + V4 + (1 | subject), d, "
                 "poisson, nAGQ = 7)"),
}

IMPORT_SCRIPT = "import time; t0 = time.perf_counter(); import mejax; " \
                "print(time.perf_counter() - t0, mejax.__file__)"


def _env(cache_dir: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    env.pop("MEJAX_NO_CACHE", None)
    # as after `pip install`, which byte-compiles: without .pyc files every process would
    # compile mejax's ~100 modules from source
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache_dir is not None:
        env["MEJAX_CACHE_DIR"] = cache_dir
    return env


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Wall and CPU (user + system) seconds of one process; its stdout, or its error.

    CPU seconds hardly move when other work shares the machine; wall seconds do.
    """
    t0, c0 = time.perf_counter(), _cpu_children()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    wall, cpu = time.perf_counter() - t0, _cpu_children() - c0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout)[-800:]}
    return {"process_s": wall, "cpu_s": cpu, "stdout": proc.stdout}


def mejax_command(command: str, data: str, cache_dir: str) -> dict:
    """One fresh ``mejax "<command>" --data <data>`` process with the given cache."""
    # run in the checkout: `python -m` puts the working directory first on sys.path
    return _timed([sys.executable, "-m", "mejax.cli", command, "--data", data], _env(cache_dir),
                  cwd=CHECKOUT)


def r_command(code: str, data: str) -> dict:
    """One fresh Rscript: load lme4, read the CSV, fit, print the summary."""
    exe = shutil.which("Rscript")
    if exe is None:
        return {"error": "Rscript not found"}
    script = (f"suppressMessages(library(lme4)); d <- read.csv('{DATA / (data + '.csv')}'); "
              f"{code}; print(summary(f))")
    return _timed([exe, "-e", script])


def _median(runs: list[dict]) -> dict:
    ok = [r["process_s"] for r in runs if "process_s" in r]
    cpu = [r["cpu_s"] for r in runs if "cpu_s" in r]
    out: dict = {"runs_s": ok, "cpu_runs_s": cpu}
    if ok:
        out["median_s"] = statistics.median(ok)
        out["median_cpu_s"] = statistics.median(cpu)
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        out["error"] = errors[0]
    return out


def time_model(name: str, reps: int, with_r: bool, empty_reps: int | None = None) -> dict:
    command, data, r_code = MODELS[name]
    empty, warm, last = [], [], ""
    with tempfile.TemporaryDirectory() as keep:
        for _ in range(reps if empty_reps is None else empty_reps):
            with tempfile.TemporaryDirectory() as fresh:
                empty.append(mejax_command(command, data, fresh))
        mejax_command(command, data, keep)  # fills the cache the warm runs read
        for _ in range(reps):
            run = mejax_command(command, data, keep)
            last = run.get("stdout", "")
            warm.append(run)
    out = {"command": f'mejax "{command}" --data {data}', "empty_cache": _median(empty),
           "warm_cache": _median(warm), "output": last}
    if with_r:
        out["r"] = _median([r_command(r_code, data) for _ in range(reps)])
        out["r"]["code"] = r_code
    return out


def time_import(reps: int) -> dict:
    """``import mejax`` in a fresh process (median), and its ten slowest imports."""
    runs = []
    for _ in range(reps):
        proc = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True,
                              text=True, env=_env(), cwd=CHECKOUT, check=True)
        seconds, path = proc.stdout.split()[-2:]
        if not path.startswith(str(CHECKOUT)):
            raise SystemExit(f"timed {path}, not the checkout {CHECKOUT}")
        runs.append(float(seconds))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mejax"],
                          capture_output=True, text=True, env=_env(), cwd=CHECKOUT, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    slowest = [{"cumulative_ms": us / 1000, "module": mod} for us, mod in sorted(rows)[-10:]]
    return {"median_s": statistics.median(runs), "runs_s": runs, "slowest": slowest[::-1]}


def _fmt(x: float | None) -> str:
    return f"{x:.2f} s" if x is not None else "—"


def _ratio(x: float | None, r: float | None) -> str:
    return f"{x / r:.2f}×" if x is not None and r else "—"


def table(results: dict) -> str:
    lines = ["| command | mejax, empty cache | mejax, warm cache | R fresh process | "
             "warm / R | empty / R | CPU s: empty / warm / R |", "|---|---|---|---|---|---|---|"]
    for res in results["models"].values():
        e, w, r = (res.get(k, {}).get("median_s") for k in ("empty_cache", "warm_cache", "r"))
        cpu = " / ".join(f"{res.get(k, {}).get('median_cpu_s', float('nan')):.2f}"
                         for k in ("empty_cache", "warm_cache", "r"))
        cmd = res["command"].replace("|", "\\|")
        lines.append(f"| `{cmd}` | {_fmt(e)} | {_fmt(w)} | {_fmt(r)} | {_ratio(w, r)} | "
                     f"{_ratio(e, r)} | {cpu} |")
    imp = results["import"]["median_s"]
    lines.append(f"\n`import mejax`: {imp:.2f} s (median of {len(results['import']['runs_s'])})")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv else 3
    empty_reps = int(argv[argv.index("--empty-reps") + 1]) if "--empty-reps" in argv else reps
    names = argv[argv.index("--only") + 1].split(",") if "--only" in argv else list(MODELS)
    with_r = "--no-r" not in argv
    global CHECKOUT
    if "--root" in argv:
        CHECKOUT = Path(argv[argv.index("--root") + 1]).resolve()
    target = HERE / "results" / (argv[argv.index("--out") + 1] if "--out" in argv
                                 else "cold.json")
    out: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                             "load_average_at_start": os.getloadavg()},
                 "checkout": str(CHECKOUT), "reps": reps, "empty_reps": empty_reps,
                 "import": time_import(reps), "models": {}}
    for name in names:
        out["models"][name] = time_model(name, reps, with_r, empty_reps)
        print(name, {k: (v.get("median_s"), v.get("median_cpu_s"))
                     for k, v in out["models"][name].items() if isinstance(v, dict)}, flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    out["machine"]["load_average_at_end"] = os.getloadavg()
    target.write_text(json.dumps(out, indent=2))
    print(table(out))


if __name__ == "__main__":
    main(sys.argv[1:])
