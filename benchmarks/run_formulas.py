"""Host cost of the formula front end (formulaic): warm whole calls, mejax beside lme4.

    python benchmarks/run_formulas.py [n]

sleepstudy, ML, three formulas: plain numeric columns (``Days + (Days | Subject)``,
which skips formulaic's materializer), a factor interaction (``Days * phase``) and
stateful transforms (``bs(Days, df=4) + (scale(Days) | Subject)``).
Median of ``n`` whole calls (data frame in, result out) after warm-up, in one run on
the same machine; writes ``benchmarks/results/formulas.json`` and prints lme4 / mejax.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

FORMULAS = {
    "plain": "Reaction ~ Days + (Days | Subject)",
    "factor": "Reaction ~ Days * phase + (Days | Subject)",
    "transforms": "Reaction ~ bs(Days, df=4) + (scale(Days) | Subject)",
}


def mejax_warm(n: int) -> dict:
    import numpy as np

    import mejax

    df = mejax.datasets.load("sleepstudy")
    df = df.assign(phase=np.array(["a", "b", "c"])[df["Days"].to_numpy() % 3])
    out = {}
    for key, formula in FORMULAS.items():
        for _ in range(3):
            res = mejax.mixed(formula, df)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            res = mejax.mixed(formula, df)
            times.append(time.perf_counter() - t0)
        out[key] = {"median_s": statistics.median(times), "loglik": res.loglik}
    return out


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 100
    mine = mejax_warm(n)
    lme4 = peers._rscript("lmer_formulas.R", str(peers.SLEEPSTUDY_CSV), str(n))
    rows = []
    for key, formula in FORMULAS.items():
        peer = lme4.get("fits", {}).get(key, {})
        ratio = peer.get("median_s", float("nan")) / mine[key]["median_s"]
        rows.append({"key": key, "formula": formula, "mejax_s": mine[key]["median_s"],
                     "lme4_s": peer.get("median_s"), "lme4_over_mejax": ratio,
                     "loglik_mejax": mine[key]["loglik"], "loglik_lme4": peer.get("loglik")})
        print(f"{key:>10}: mejax {mine[key]['median_s'] * 1e3:7.2f} ms  lme4 "
              f"{peer.get('median_s', float('nan')) * 1e3:7.2f} ms  lme4/mejax {ratio:5.2f}x  "
              f"loglik {mine[key]['loglik']:.6f} / {peer.get('loglik')}")
    result = {"machine": platform.platform(), "n": n, "lme4": lme4.get("version"), "rows": rows}
    (HERE / "results" / "formulas.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
