"""The size and compile time of a single GLMM fit's one program (the profile behind issue 17's
first-call work on wine ``meologit`` and cbpp ``melogit``).

    python benchmarks/profile_glmm_program.py ["meologit rating warm contact || judge:" wine] ...

For each command and data set (pairs of arguments; by default wine's ``meologit`` and cbpp's
``melogit``, both mean-variance quadrature with 7 points), the program a first fit compiles
(:func:`mejax.fit.glmm.fit_evaluation`, with :data:`mejax.fit.programs.FAST_COMPILE`) is
traced, lowered and compiled in this process, each step timed (wall and CPU seconds: CPU
hardly moves when other work shares the machine), and its size counted: jaxpr equations
(loop bodies included), StableHLO operations, lines of the compiled HLO. Counts are exact;
the times are one process's. Prints one JSON line per command.
"""

from __future__ import annotations

import json
import os
import sys
import time
from functools import partial

os.environ.setdefault("MEJAX_NO_CACHE", "1")  # compile here, not from a cache

import jax  # noqa: E402
import jax.extend  # noqa: E402
import numpy as np  # noqa: E402

import mejax  # noqa: E402
from mejax.fit.glmm import DEFAULT_NODES, canonical_method, fit_evaluation, prepare  # noqa: E402
from mejax.fit.programs import FAST_COMPILE  # noqa: E402
from mejax.spec.design import build_design  # noqa: E402
from mejax.spec.stata import parse_stata  # noqa: E402

DEFAULT = ["meologit rating warm contact || judge:", "wine",
           "melogit incidence i.period || herd:, binomial(size)", "cbpp"]


def equations(jaxpr) -> int:
    """Equations of a jaxpr and of every jaxpr inside it (loop bodies, custom rules)."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for inner in value if isinstance(value, tuple | list) else [value]:
                if isinstance(inner, jax.extend.core.ClosedJaxpr):
                    total += equations(inner.jaxpr)
                elif isinstance(inner, jax.extend.core.Jaxpr):
                    total += equations(inner)
    return total


def _timed(step):
    wall, cpu = time.perf_counter(), time.process_time()
    out = step()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def profile(command: str, data: str) -> dict:
    spec = parse_stata(command)
    options = dict(spec.options)
    method = canonical_method(options.get("intmethod"))
    nodes = 1 if method == "laplace" else options.get("intpoints") or DEFAULT_NODES
    model, arrays = prepare(build_design(spec, mejax.datasets.load(data)), method, nodes)
    theta = np.concatenate([s.theta_init() for s in model.structures])
    params = np.concatenate([np.zeros(model.p), theta, np.zeros(model.n_aux())])
    jitted = jax.jit(partial(fit_evaluation, model=model), compiler_options=FAST_COMPILE)
    traced, trace_s, trace_cpu = _timed(lambda: jitted.trace(params, arrays))
    lowered, lower_s, lower_cpu = _timed(traced.lower)
    compiled, compile_s, compile_cpu = _timed(lowered.compile)
    return {"command": command, "data": data, "trace_s": trace_s, "lower_s": lower_s,
            "compile_s": compile_s, "trace_cpu_s": trace_cpu, "lower_cpu_s": lower_cpu,
            "compile_cpu_s": compile_cpu, "jaxpr_equations": equations(traced.jaxpr.jaxpr),
            "stablehlo_ops": sum("stablehlo." in line for line in lowered.as_text().splitlines()),
            "compiled_hlo_lines": len(compiled.as_text().splitlines()),
            "load_average": os.getloadavg()}


def main(argv: list[str]) -> None:
    args = argv or DEFAULT
    jax.jit(lambda x: x + 1.0).lower(1.0).compile()  # the backend's start, not counted
    for command, data in zip(args[::2], args[1::2]):
        print(json.dumps(profile(command, data)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
