"""Fit a generalized linear mixed model from a Design (host orchestration).

The model without random effects is fitted first: it gives starting values
for β and the extra parameters, and the log likelihood of the LR test.
A single fit compiles one program per model, the log likelihood, its exact
gradient and the reported values (:func:`fit_evaluation`): BFGS steps from the
host over it (:mod:`.host_bfgs`), and central differences of the same program
(:mod:`.differences`) give the observed information at the start (it
preconditions BFGS) and at the optimum, with the reported values' Jacobians: the
standard errors compile nothing more.
Batches of fits vmap the fully compiled loop, :func:`fit_glmm`, instead.
"""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpecError
from ..glmm_parallel import (
    check_shardable,
    cluster_mesh,
    cluster_shards,
    put_shards,
    sharded_loglik_and_gradient,
)
from ..models.density import CLUSTER_WEIGHT, ROW_WEIGHT
from ..models.glmm import (
    cluster_logliks,
    fit_gradient_order,
    gradient_batch,
    marginal_loglik,
    points_per_row,
)
from ..models.glmm_structure import GlmmStructure, split_params
from ..parallel import resolve_devices
from ..spec.design import Design
from ..spec.identifiability import check_identifiable
from ..spec.survey import PseudoWeights
from . import host_bfgs
from .differences import (
    central_evaluations,
    central_slopes,
    host_information,
    symmetric_information,
    traced_information,
)
from .mixed import GAIN_TOLERANCE, GRADIENT_TOLERANCE, ConvergenceWarning, is_converged
from .nesting import level_arrays, nested_levels
from .optimize import ATOL, RTOL, bfgs, expected_gain, optx
from .programs import program, remember_latest, repeated_fit
from .units import glmm_parameter_units

METHODS = {
    "laplace": "laplace", "mcaghq": "mcaghq", "mcaghermite": "mcaghq", "mvaghq": "mvaghq",
    "mvaghermite": "mvaghq", "ghq": "ghq", "ghermite": "ghq", "aghq": "mvaghq",
    "mcagh": "mcaghq", "mvagh": "mvaghq", "pcaghermite": "mcaghq",
}
OPTIMISED_POINTS = 2**20  # rows × grid points from which a first fit's program is compiled
# optimised: the seed command's nested quadrature (816 × 7⁴) compiles in 13 s instead of 11
# and evaluates in 0.21 s instead of 0.95, some 45 times a fit (under load)
DEFAULT_METHOD = "mvaghq"
DEFAULT_NODES = 7


def canonical_method(method: str | None) -> str:
    if method is None:
        return DEFAULT_METHOD
    key = str(method).strip().lower()
    if key not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; use laplace, mvaghermite, "
                         "mcaghermite or ghermite")
    return METHODS[key]


def _engine(design: Design) -> str:
    """none, grouped (one level), nested (strictly nested levels) or sparse (crossed)."""
    terms = design.re_terms
    if not terms:
        return "none"
    first = terms[0]
    if all(t.group_vars == first.group_vars for t in terms[1:]):
        return "grouped"
    # nested levels: recursive quadrature; with one node that is the joint Laplace
    # approximation at O(rows) cost, against a dense curvature over all effects
    return "nested" if nested_levels(design) else "sparse"


def _random_arrays(design: Design, engine: str) -> tuple[dict, int]:
    terms = design.re_terms
    z = np.column_stack([t.z for t in terms])
    if engine == "grouped":
        return {"group": terms[0].codes.astype(np.int32), "z": z}, terms[0].n_levels
    cols, offset = [], 0
    for t in terms:
        k = t.z.shape[1]
        cols.append(offset + t.codes[:, None] * k + np.arange(k)[None, :])
        offset += t.n_levels * k
    return {"cols": np.concatenate(cols, axis=1).astype(np.int32), "z": z}, offset


def prepare(design: Design, method: str, nodes: int, with_effects: bool = True,
            weights: PseudoWeights | None = None):
    """Static structure and arrays; ``with_effects=False`` gives the model without them.

    ``weights``: pseudo-likelihood weights of the rows and of each level's groups.
    """
    glm = design.glm
    family = design.glm.family
    arrays = {"x": design.x, "offset": glm.offset, "data": dict(glm.data),
              "nobs": np.float64(design.nobs)}
    if weights is not None and weights.rows is not None:
        arrays["data"][ROW_WEIGHT] = weights.rows
    engine = _engine(design) if with_effects else "none"
    n_units = 0
    structures: tuple = ()
    if engine != "none":
        extra, n_units = _random_arrays(design, engine)
        if engine == "nested":  # the sparse engine's arrays and the levels
            extra["levels"] = level_arrays(design)
        arrays.update(extra)
        structures = tuple(t.structure for t in design.re_terms)
        if weights is not None:
            _level_weights(arrays, engine, weights)
    if engine == "nested" and method == "laplace":
        method, nodes = "mcaghq", 1  # exactly the Laplace approximation
    model = GlmmStructure(family, glm.n_categories, structures, engine, method, int(nodes),
                          design.x.shape[1], n_units)
    arrays["param_units"] = glmm_parameter_units(design, engine != "none", model.n_aux())
    return model, arrays


def _level_weights(arrays: dict, engine: str, weights: PseudoWeights) -> None:
    """Group weights into the engine's arrays: the top level's per cluster, the rest per level."""
    if not any(w is not None for w in weights.levels):
        return
    if engine == "sparse":
        raise SpecError("weights at the levels of crossed random effects: pseudo-likelihood "
                        "needs nested levels (each group inside one group of the level above)")
    top, lower = weights.levels[0], weights.levels[1:]
    if top is not None:
        arrays[CLUSTER_WEIGHT] = top
    if engine == "nested":
        arrays["levels"] = (arrays["levels"][0],) + tuple(
            lv if w is None else {**lv, "weight": w} for lv, w in zip(arrays["levels"][1:], lower))


SEPARATION_EFFECT = 15.0  # |β|·sd(x) on the logit/probit scale: odds ratio e^15 per sd


def _separated_columns(design: Design, beta: np.ndarray) -> list[str]:
    """Coefficients running off to infinity, the mark of (quasi-)complete separation."""
    if not design.glm.family.may_separate:
        return []
    scale = design.x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return [name for name, b, s in zip(design.x_names, beta, scale)
            if abs(b) * s > SEPARATION_EFFECT]


@partial(jax.jit, static_argnames=("model", "max_steps"))
def fit_glmm(params0, arrays, model: GlmmStructure, transform=None, max_steps: int = 500):
    """Maximise the marginal log likelihood; returns the optimum and diagnostics.

    BFGS runs in q with params = params0 + T·q. With T from the information at
    the start (:func:`preconditioner`) its first steps are Newton-like; the
    reported gradient is in the parameters' own scale.
    """
    solver = bfgs.LoggedBFGS(rtol=RTOL, atol=ATOL)
    t = jnp.eye(params0.shape[0]) if transform is None else transform
    sol = optx.minimise(
        lambda q, a: -marginal_loglik(params0 + t @ q, a, model) / a["nobs"], solver,
        jnp.zeros_like(params0), args=arrays, max_steps=max_steps, throw=False,
    )
    state, history = sol.state
    return {
        "params": params0 + t @ sol.value,
        "success": sol.result == optx.RESULTS.successful,
        "steps": sol.stats["num_steps"],
        "grad": jnp.linalg.solve(t.T, state.f_info.grad),
        "gain": expected_gain(state, arrays["nobs"]),
        "loglik": -state.f_info.f * arrays["nobs"],
        "history": -history * arrays["nobs"],  # log likelihood at each accepted iteration
    }


def reported_values(params, model: GlmmStructure):
    """Variance/covariance entries, Stata's φ (log sd, atanh ρ) and aux on Stata's scale."""
    _, thetas, aux = split_params(params, model)
    entries, phi = [], []
    for struct, theta in zip(model.structures, thetas):
        lam = struct.lam(theta)
        sigma = lam @ lam.T
        entries.extend(sigma[i, j] for i, j in struct.entries())
        phi.append(struct.phi_from_sigma(sigma))
    entries = jnp.stack(entries) if entries else jnp.zeros(0)
    phi = jnp.concatenate(phi) if phi else jnp.zeros(0)
    return entries, phi, model.family.aux_reported(aux)


def observed_information(params, arrays, model: GlmmStructure):
    """−∇²log L by central differences of the exact autodiff gradient (traced: batches).

    The gradient is exact (:func:`loglik_and_gradient`), so the differences err by
    O(h²) ≈ 1e-8 relative; compiling one vmapped gradient takes a fraction of the time
    of a forward-over-reverse Hessian.
    """
    def gradient(p):
        return jax.grad(marginal_loglik)(p, arrays, model, 1)

    batch = gradient_batch(arrays, model, 2 * params.shape[0])  # bounded memory for big grids
    return traced_information(gradient, params, arrays["param_units"], batch)


def loglik_and_gradient(params, arrays, model: GlmmStructure):
    """log L and its exact gradient: one Newton step through the mode (``order`` 1).

    The information's central differences need nothing more: each shifted gradient
    is exact at its own converged mode (order 1 and 2 give the same standard errors
    to 1e-12 on wine, cbpp, contraception, epilepsy and nested grouseticks), while a
    second step would add a fifth to the program that a first fit compiles. Nested
    quadrature with enough points: the gradient at fixed grids
    (:func:`mejax.models.glmm.fit_gradient_order`).
    """
    return jax.value_and_grad(marginal_loglik)(params, arrays, model, fit_gradient_order(model))


def fit_evaluation(params, arrays, model: GlmmStructure):
    """log L, its gradient and the reported values: a single fit's one program (the same
    central differences that give the information give the values' Jacobians)."""
    return (*loglik_and_gradient(params, arrays, model), reported_values(params, model))


@partial(jax.jit, static_argnames=("model", "mesh"))
def sharded_fit_evaluation(params, shards: dict, model: GlmmStructure, mesh):
    """:func:`fit_evaluation` with the clusters split over the devices of ``mesh``."""
    value, grad = sharded_loglik_and_gradient(params, shards, model, mesh, 1)
    return value, grad, reported_values(params, model)


def is_converged_batch(success, finite, max_grad, gain) -> np.ndarray:
    """:func:`mejax.fit.mixed.is_converged` for many fits at once (arrays)."""
    with np.errstate(invalid="ignore"):
        flat = (max_grad < GRADIENT_TOLERANCE) | (gain < GAIN_TOLERANCE)
    return np.asarray(success & finite & flat)


def preconditioner(info: np.ndarray, nobs: float, units: np.ndarray) -> np.ndarray | None:
    """T with T'(H/n)T = I from the information H at the start (|eigenvalues|, floored).

    Built in unit-scaled parameters (``units``, :mod:`mejax.fit.units`), so the
    eigenvalue floor does not clip the parameters of small-unit columns.
    None (plain BFGS) when the information is not finite.
    """
    if not np.all(np.isfinite(info)):
        return None
    scaled = 0.5 * (info + info.T) * units[:, None] * units[None, :] / nobs
    values, vectors = np.linalg.eigh(scaled)
    values = np.abs(values)
    values = np.maximum(values, max(values.max() * 1e-8, 1e-12))
    return units[:, None] * vectors / np.sqrt(values)


def _compiled_evaluation(arrays, model: GlmmStructure, params0, devices=None):
    """The model's one compiled program (:func:`fit_evaluation`), numpy in and out.

    With ``devices`` (two or more) the top-level clusters are split over them
    (:func:`mejax.glmm_parallel.cluster_shards`) and each evaluation sums every device's.
    """
    if devices is not None:
        mesh = cluster_mesh(devices)
        shards, local = cluster_shards(arrays, model, len(devices))
        call = partial(sharded_fit_evaluation, model=local, mesh=mesh)
        return _remembering(call, put_shards(shards, mesh))
    # an exported program (fit/programs.py): a warm process skips tracing and lowering
    # a first fit's program compiles fast; the third fit of the model in this process on
    # compiles it optimised (4-5x faster evaluations of Contraception's Laplace), and so
    # does every fit whose evaluations are heavy (:data:`OPTIMISED_POINTS`)
    light = arrays["x"].shape[0] * points_per_row(arrays, model) < OPTIMISED_POINTS
    call = program("glmm_evaluation", partial(fit_evaluation, model=model), model,
                   params0, arrays, fast_compile=not repeated_fit(model, arrays) and light,
                   optimised=not light)
    return _remembering(call, jax.device_put(arrays))  # moved once, not at every evaluation


def _remembering(call, device_arrays):
    """``call(params, device_arrays)`` as a function of ``params``, its latest point kept."""
    return remember_latest(lambda params: call(np.asarray(params, dtype=float), device_arrays))


def _run(evaluate, params0, nobs: float, units: np.ndarray, transform=None) -> dict:
    out = host_bfgs.minimise(lambda p: evaluate(p)[:2], np.asarray(params0, dtype=float),
                             transform, nobs)
    # stationary in unit-scaled parameters: the gradient per unit of each (fit/units.py)
    scaled = {**out, "grad": out["grad"] * units}
    out["converged"] = is_converged(scaled, out["loglik"])
    return out


def _information(evaluate, params, units: np.ndarray, central: bool = True) -> np.ndarray:
    """−∇²log L at ``params`` from calls of the compiled gradient (2P, or P + 1 forward)."""
    return host_information(lambda p: np.asarray(evaluate(p)[1]), params, units, central)


def _inference(evaluate, params, units: np.ndarray):
    """−∇²log L, the reported values and their Jacobians (one (values, P) array each), all
    from 2P calls of the compiled program at params ± h_i e_i (:mod:`.differences`)."""
    steps, plus, minus = central_evaluations(evaluate, params, units)
    info = symmetric_information(np.stack([np.asarray(o[1]) for o in plus]),
                                 np.stack([np.asarray(o[1]) for o in minus]), steps)
    jacs = [central_slopes(np.stack([np.asarray(o[2][k]) for o in plus]),
                           np.stack([np.asarray(o[2][k]) for o in minus]), steps)
            for k in range(len(plus[0][2]))]
    return info, jacs, [np.asarray(v) for v in evaluate(params)[2]]


@partial(jax.jit, static_argnames=("model",))
def cluster_scores(params, arrays, model: GlmmStructure):
    """∂(w_c log L_c)/∂params for every top-level cluster c: (C, P), for sandwich variances."""
    def weighted(p):
        values = cluster_logliks(p, arrays, model)
        weight = arrays.get(CLUSTER_WEIGHT)
        return values if weight is None else weight * values

    return jax.jacfwd(weighted)(params)


def fit_glmm_design(design: Design, method: str, nodes: int,
                    weights: PseudoWeights | None = None, devices=None) -> dict:
    """Fit the model without and with random effects; returns arrays and diagnostics.

    With ``weights`` the fit maximises the pseudo-likelihood; ``cluster_scores``
    in the result gives the per-cluster scores its sandwich variance needs.
    ``devices`` (an int, a list of devices or "all") splits the top-level clusters
    over devices for every evaluation of the log likelihood and its gradient
    (:mod:`mejax.glmm_parallel`); post-estimation runs on one device.
    """
    devices = None if devices is None else resolve_devices(devices)
    devices = devices if devices is not None and len(devices) > 1 else None
    check_identifiable(design, residual_variance=design.glm.family.residual_variance_aux)
    model, arrays = prepare(design, method, nodes, weights=weights)
    if devices is not None:
        check_shardable(model)
    base_model, base_arrays = prepare(design, method, nodes, with_effects=False,
                                      weights=weights)
    glm = design.glm
    aux0 = glm.family.aux_start(glm.data, glm.n_categories)
    base_start = np.concatenate([np.zeros(design.x.shape[1]), aux0])
    base = _run(_compiled_evaluation(base_arrays, base_model, base_start, devices), base_start,
                design.nobs, base_arrays["param_units"], np.diag(base_arrays["param_units"]))
    units = arrays["param_units"]
    p = design.x.shape[1]
    theta0 = np.concatenate([s.theta_init() for s in model.structures])
    start = np.concatenate([base["params"][:p], theta0, base["params"][p:]])
    evaluate = _compiled_evaluation(arrays, model, start, devices)
    # the information at the start preconditions BFGS; at the optimum it gives the SEs
    info_start = _information(evaluate, start, units, central=False)  # only preconditions
    out = _run(evaluate, start, design.nobs, units,
               preconditioner(info_start, design.nobs, units))
    if not out["converged"]:
        warnings.warn(
            f"the optimiser did not converge (steps={int(out['steps'])}, max |gradient|="
            f"{np.max(np.abs(out['grad'])):.3g}); estimates may be unreliable",
            ConvergenceWarning, stacklevel=3)
    out["separated"] = _separated_columns(design, out["params"][:p])
    if out["separated"]:
        warnings.warn(
            f"possible perfect separation: the coefficient(s) of {', '.join(out['separated'])} "
            "are so large that the outcome is (almost) perfectly predicted; their estimates "
            "and standard errors are not meaningful", UserWarning, stacklevel=3)
    out.update(model=model, arrays=arrays, beta=out["params"][:p],
               order=list(range(len(design.re_terms))), base_loglik=float(base["loglik"]),
               base_params=base["params"], base_converged=base["converged"])

    def inference():
        return _inference(evaluate, out["params"], units)

    def scores():
        return np.asarray(cluster_scores(jnp.asarray(out["params"]), arrays, model))

    out["inference"] = inference
    out["cluster_scores"] = scores
    return out
