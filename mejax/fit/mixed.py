"""Fit a linear mixed model from a Design (host orchestration of the compiled fit)."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from ..cov.structures import NoEffects
from ..linalg.blocks import crossprod_blocks
from ..linalg.residual_blocks import residual_arrays, residual_structure, typical_distance
from ..models.lmm import LmmStructure, residual_eta
from ..parallel import resolve_devices, sharded_crossprod_blocks
from ..spec.design import Design
from ..spec.identifiability import check_identifiable
from .optimize import covariance_inference, fit_lmm, iteration_log, unflatten
from .programs import program
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


def prepare(design: Design, reml: bool, devices=None):
    """Cross-product blocks, static structure and starting values for ``design``.

    With ``devices`` (an int, a list of devices, or "all") the row sums behind
    the blocks run on row shards, one per device (:mod:`mejax.parallel`; not
    under a residual structure).
    """
    order = block_order(design)
    terms = [design.re_terms[i] for i in order]
    codes = [t.codes for t in terms]
    zs = [t.z for t in terms]
    n_levels = [t.n_levels for t in terms]
    structures = tuple(t.structure for t in terms)
    res = design.residual
    if not terms:  # residual structure only: one empty block per residual group
        codes, zs, n_levels = [res.codes], [np.zeros((design.nobs, 1))], [res.n_groups]
        structures = (NoEffects(1),)
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
    """Run the compiled fit and return its outputs as numpy arrays plus diagnostics."""
    check_identifiable(design, residual_variance=True)
    warn_extreme_values(design)
    order, model, arrays, theta0 = prepare(design, reml, devices)
    # an exported program (fit/programs.py): a warm process skips tracing and lowering
    fit = program("fit_lmm", partial(fit_lmm, model=model), model, theta0, arrays)
    out = unflatten(np.asarray(fit(theta0, arrays)), model)
    out["success"] = bool(out["success"])
    out["iterations"] = iteration_log(out["history"], -0.5 * design.nobs)
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

    def inference() -> tuple[np.ndarray, np.ndarray]:
        covariances = program("covariance_inference", partial(covariance_inference, model=model),
                              model, out["theta"], out["sigma2"], arrays)
        entries_cov, phi_cov = covariances(out["theta"], out["sigma2"], arrays)
        return np.asarray(entries_cov), np.asarray(phi_cov)

    out["inference"] = inference
    return out
