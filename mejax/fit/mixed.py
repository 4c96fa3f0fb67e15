"""Fit a linear mixed model from a Design (host orchestration of the compiled fit)."""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..cov.structures import NoEffects
from ..linalg.blocks import crossprod_blocks
from ..linalg.residual_blocks import residual_arrays, residual_structure, typical_distance
from ..linalg.scaling import scaled_inverse
from ..models.lmm import LmmStructure, estimates_from_factor, loglik_and_factor, residual_eta
from ..parallel import resolve_devices, sharded_crossprod_blocks
from ..spec.design import Design
from ..spec.identifiability import check_identifiable
from . import host_bfgs, traced_bfgs
from .differences import central_evaluations, central_slopes, symmetric_information
from .optimize import (
    HISTORY,
    evaluation_shapes,
    flatten,
    iteration_log,
    single_fit_evaluation,
    unflatten,
)
from .programs import program, remember_latest, repeated_fit
from .start import theta_start, theta_units
from .units import warn_extreme_values

GRADIENT_TOLERANCE = 1e-4  # on the per-observation deviance the optimiser sees
GAIN_TOLERANCE = 1e-5  # log likelihood the quasi-Newton model still expects to gain


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


def is_converged(out: dict, criterion) -> bool:
    """Optimiser success, finite values and a stationary point.

    Stationary: a small gradient or, for badly scaled parameters, a negligible
    expected log-likelihood gain.
    """
    finite = bool(np.all(np.isfinite(out["grad"]))) and bool(np.isfinite(criterion))
    flat = float(np.max(np.abs(out["grad"]), initial=0.0)) < GRADIENT_TOLERANCE
    flat = flat or float(out["gain"]) < GAIN_TOLERANCE
    return bool(out["success"]) and finite and flat


def block_order(design: Design) -> list[int]:
    """Random-effect terms sorted by number of levels, largest first (stable)."""
    return sorted(range(len(design.re_terms)), key=lambda i: -design.re_terms[i].n_levels)


def block_terms(design: Design):
    """(order, codes, z, levels, structures) of the random-effect terms in block order.

    A model with a residual structure and no random effects gets one empty block per
    residual group.
    """
    order = block_order(design)
    terms = [design.re_terms[i] for i in order]
    if not terms:
        res = design.residual
        return order, [res.codes], [np.zeros((design.nobs, 1))], [res.n_groups], (NoEffects(1),)
    return (order, [t.codes for t in terms], [t.z for t in terms], [t.n_levels for t in terms],
            tuple(t.structure for t in terms))


def prepare(design: Design, reml: bool, devices=None):
    """Cross-product blocks, static structure and starting values for ``design``.

    With ``devices`` (an int, a list of devices, or "all") the row sums behind
    the blocks run on row shards, one per device (:mod:`mejax.parallel`; not
    under a residual structure).
    """
    order, codes, zs, n_levels, structures = block_terms(design)
    res = design.residual
    xy = np.column_stack([design.x, design.y])
    if devices is not None and res is None:
        devices = resolve_devices(devices)
    if devices is not None and len(devices) > 1 and res is None:
        layout, arrays = sharded_crossprod_blocks(codes, zs, xy, n_levels, devices)
    else:
        layout, arrays = crossprod_blocks(codes, zs, xy, n_levels)
    # numpy inputs go straight to the compiled call: jit's C++ dispatch moves them
    # faster than a Python-level device_put
    arrays["nobs"] = np.float64(design.nobs)
    theta0 = theta_start(design, order)
    residual = None
    if res is not None:
        residual = residual_structure(res)
        arrays.update(residual_arrays(res, codes, zs, xy, layout))
        theta0 = np.concatenate([theta0, residual.params_init(typical_distance(res))])
    n_residual = residual.n_params() if residual is not None else 0
    arrays["theta_units"] = theta_units(design, order, n_residual)
    model = LmmStructure(layout, structures, bool(reml), residual)
    return order, model, arrays, theta0


def fit_design(design: Design, reml: bool, devices=None) -> dict:
    """Fit one model over its one compiled program (BFGS from the host; numpy outputs).

    From the third fit of the same model and shapes in a process
    (:func:`~.programs.repeated_fit`), the same BFGS runs as one compiled loop
    (:mod:`.traced_bfgs`): a compile paid once for faster repeats.
    """
    check_identifiable(design, residual_variance=True)
    warn_extreme_values(design)
    order, model, arrays, theta0 = prepare(design, reml, devices)
    evaluate = _compiled_evaluation(arrays, model, theta0)
    units = arrays["theta_units"]
    if repeated_fit(model, arrays):
        loop = program("lmm_repeated_fit", partial(compiled_fit, model=model), model, theta0,
                       arrays)
        flat = np.asarray(loop(theta0, arrays))
        shapes = compiled_fit_shapes(model)
        width = sum(int(np.prod(shape)) for shape in shapes.values())
        run = unflatten(flat[:width], model, shapes)
        run["iterations"] = iteration_log(run["iterations"], 1.0)
        at = unflatten(flat[width:], model, evaluation_shapes(model))  # at the optimum
    else:
        def profiled(theta):  # (log L, ∇ log L in θ) with log σ at its optimum
            at = evaluate(np.append(theta, 0.0), True)
            return at["loglik"], at["grad"][:-1]

        run = host_bfgs.minimise(profiled, theta0, np.diag(units), design.nobs)
        at = evaluate(np.append(run["params"], 0.0), True)
    theta = np.asarray(run["params"])
    # the batch loop's conventions (fit_lmm): the gradient of deviance/n in θ/units
    # and the gain of its quasi-Newton model, twice those of −log L/n
    out = {"theta": theta, "success": bool(run["success"]), "steps": int(run["steps"]),
           "grad": 2.0 * np.asarray(run["grad"]) * units, "gain": 2.0 * float(run["gain"]),
           "entries": at["entries"], "phi": at["phi"],
           **estimates_from_factor(float(at["log_det"]), at["lxx"], arrays, model)}
    out["iterations"] = [float(run["loglik0"]), *run["iterations"]]
    out["converged"] = is_converged(out, out["deviance"])
    out["problem"] = "" if model.residual is None else model.residual.near_singular(
        residual_eta(out["theta"], model), arrays)
    if out["problem"]:
        out["converged"] = False
        warnings.warn(f"mixed: {out['problem']}", ConvergenceWarning, stacklevel=3)
    elif not out["converged"]:
        warnings.warn(
            f"the optimiser did not converge (steps={int(out['steps'])}, "
            f"max |gradient|={np.max(np.abs(out['grad'])):.3g}, expected log-likelihood "
            f"gain {float(out['gain']):.3g}); estimates may be unreliable",
            ConvergenceWarning,
            stacklevel=3,
        )
    out["order"] = order
    out["model"] = model
    out["arrays"] = arrays  # the compiled functions' inputs, for post-estimation
    out["reml"] = bool(reml)
    theta_s = np.append(theta, at["log_sigma"])

    def inference() -> tuple[np.ndarray, np.ndarray]:
        """Covariances of the reported values and of Stata's φ: the delta method on the
        information in (θ, log σ); both it and the Jacobians are central differences
        of the same program (2·(k + 1) calls)."""
        steps, plus, minus = central_evaluations(lambda t: evaluate(t, False), theta_s,
                                                 np.append(units, 1.0))

        def slopes(name):  # d name / d(θ, log σ), a column per parameter
            return central_slopes(np.stack([o[name] for o in plus]),
                                  np.stack([o[name] for o in minus]), steps)

        info = symmetric_information(np.stack([o["grad"] for o in plus]),
                                     np.stack([o["grad"] for o in minus]), steps)
        cov = scaled_inverse(info)
        jac_entries, jac_phi = slopes("entries"), slopes("phi")
        return jac_entries @ cov @ jac_entries.T, jac_phi @ cov @ jac_phi.T

    out["inference"] = inference
    return out


def compiled_fit(theta0, arrays, model: LmmStructure):
    """:func:`.host_bfgs.minimise` of the profiled likelihood, traced (:mod:`.traced_bfgs`)."""
    def profiled(theta):
        def loglik(t):
            return loglik_and_factor(t, arrays, model, True)[0]

        value, grad = jax.value_and_grad(loglik)(jnp.append(theta, 0.0))
        return value, grad[:-1]

    run = traced_bfgs.minimise(profiled, theta0, jnp.diag(arrays["theta_units"]),
                               arrays["nobs"])
    # and everything the host reads at the optimum: no second call for the estimates
    at = single_fit_evaluation(jnp.append(run["params"], 0.0), True, arrays, model)
    return jnp.concatenate([flatten(run), at])


def compiled_fit_shapes(model: LmmStructure) -> dict[str, tuple[int, ...]]:
    k = model.n_theta()
    return {"params": (k,), "success": (), "steps": (), "grad": (k,), "gain": (),
            "loglik": (), "loglik0": (), "iterations": (HISTORY,)}


def _compiled_evaluation(arrays: dict, model: LmmStructure, theta0: np.ndarray):
    """The model's one compiled program (:func:`~.optimize.single_fit_evaluation`) as a
    function of (θ, log σ) and ``profile``, numpy in, named numpy arrays out."""
    theta_s0 = np.append(theta0, 0.0)
    shapes = evaluation_shapes(model)
    compiled: list = []  # (program, device arrays), built at the first call: a repeated
    # fit that never asks for its SEs does not look the program up or move the arrays

    def evaluate(theta_s, profile: bool) -> dict[str, np.ndarray]:
        if not compiled:
            # an exported program (fit/programs.py): a warm process skips tracing and lowering
            compiled.append(program("lmm_evaluation", partial(single_fit_evaluation, model=model),
                                    model, theta_s0, np.True_, arrays, fast_compile=True))
            compiled.append(jax.device_put(arrays))  # moved once, not at every evaluation
        call, device_arrays = compiled
        flat = call(np.asarray(theta_s, dtype=float), np.bool_(profile), device_arrays)
        return unflatten(np.asarray(flat), model, shapes)

    # the optimum is evaluated again for the estimates
    return remember_latest(evaluate)
