"""Guard: the traced programs grow at most mildly with the sizes users choose.

A 12-level factor once took minutes to compile, because the p×p fixed-effects
block went through a Cholesky written out element by element (its program, and
far more its Hessian's, grew like p³). These tests count the lowered StableHLO
operations of each compiled call (the one program of a single LMM fit and of
a single GLMM fit, the loops and the GLMM information of batches) and fail
when a larger model's program is more than a small multiple of a smaller one's.
Counting, not timing, keeps them exact.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mejax.fit import glmm as fit_glmm_module
from mejax.fit import mixed as fit_mixed_module
from mejax.fit.optimize import fit_lmm, single_fit_evaluation
from mejax.spec.design import build_design
from mejax.spec.family import make_family
from mejax.spec.formula import parse_formula


def _data(levels: int, n_slopes: int = 0, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=n), "f": pd.Categorical(rng.integers(0, levels, n)),
                      "g": rng.integers(0, 20, n)})
    for i in range(n_slopes):
        d[f"z{i}"] = rng.normal(size=n)
    d["y"] = d.x + rng.normal(size=n)
    d["b"] = (d.y > 0).astype(float)
    return d


def _count_ops(lowered) -> int:
    return sum("stablehlo." in line for line in lowered.as_text().splitlines())


def _program_sizes(formula: str, data: pd.DataFrame, method: str) -> dict[str, int]:
    """Operations in the compiled calls of first fits (LMM, GLMM) and of batches."""
    design = build_design(parse_formula(formula), data)
    _, model, arrays, theta0 = fit_mixed_module.prepare(design, False)
    sizes = {
        # a single fit's one program, and the compiled loop of batches
        "lmm evaluation": _count_ops(jax.jit(single_fit_evaluation, static_argnums=3).lower(
            np.append(theta0, 0.0), True, arrays, model)),
        "lmm batch fit": _count_ops(fit_lmm.lower(theta0, arrays, model)),
    }
    spec = replace(parse_formula(formula.replace("y ~", "b ~", 1)),
                   family=make_family("binomial", "logit"))
    g_design = build_design(spec, data)
    g_model, g_arrays = fit_glmm_module.prepare(g_design, method, 7)
    n_params = g_design.x.shape[1] + sum(s.n_theta() for s in g_model.structures)
    start = jnp.zeros(n_params)
    # a single fit's one program, and the compiled loop and information of batches
    sizes["glmm gradient"] = _count_ops(jax.jit(fit_glmm_module.loglik_and_gradient,
                                                static_argnums=2).lower(start, g_arrays, g_model))
    sizes["glmm fit"] = _count_ops(
        fit_glmm_module.fit_glmm.lower(start, g_arrays, g_model, jnp.eye(n_params)))
    information = jax.jit(fit_glmm_module.observed_information, static_argnums=2)
    sizes["glmm information"] = _count_ops(information.lower(start, g_arrays, g_model))
    return sizes


def test_program_size_does_not_grow_with_fixed_effects():
    small = _program_sizes("y ~ x + f + (1 | g)", _data(4), "mvaghq")  # p = 5
    large = _program_sizes("y ~ x + f + (1 | g)", _data(49), "mvaghq")  # p = 50
    for call, n_small in small.items():
        assert large[call] <= 1.5 * n_small, (call, n_small, large[call])


def test_program_size_grows_mildly_with_random_coefficients():
    def formula(k):
        zs = " + ".join(f"z{i}" for i in range(k))
        return f"y ~ x + {zs} + (1 + {zs} | g)"

    small = _program_sizes(formula(2), _data(3, 2), "laplace")  # 3 effects per group
    large = _program_sizes(formula(8), _data(3, 8), "laplace")  # 9 effects
    for call, n_small in small.items():
        assert large[call] <= 3.0 * n_small, (call, n_small, large[call])
