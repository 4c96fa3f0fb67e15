"""Fit a linear mixed model from a Design (host orchestration of the compiled fit)."""

from __future__ import annotations

import warnings

import numpy as np

from ..linalg.blocks import crossprod_blocks
from ..models.lmm import LmmStructure
from ..spec.design import Design
from .optimize import covariance_inference, fit_lmm, unflatten
from .start import theta_start

GRADIENT_TOLERANCE = 1e-4  # on the per-observation deviance the optimiser sees


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


def block_order(design: Design) -> list[int]:
    """Random-effect terms sorted by number of levels, largest first (stable)."""
    return sorted(range(len(design.re_terms)), key=lambda i: -design.re_terms[i].n_levels)


def prepare(design: Design, reml: bool):
    """Cross-product blocks, static structure and starting values for ``design``."""
    order = block_order(design)
    terms = [design.re_terms[i] for i in order]
    xy = np.column_stack([design.x, design.y])
    layout, arrays = crossprod_blocks(
        [t.codes for t in terms], [t.z for t in terms], xy, [t.n_levels for t in terms]
    )
    # numpy inputs go straight to the compiled call: jit's C++ dispatch moves them
    # faster than a Python-level device_put
    arrays["nobs"] = np.float64(design.nobs)
    model = LmmStructure(layout, tuple(t.structure for t in terms), bool(reml))
    theta0 = theta_start(design, order)
    return order, model, arrays, theta0


def fit_design(design: Design, reml: bool) -> dict:
    """Run the compiled fit and return its outputs as numpy arrays plus diagnostics."""
    order, model, arrays, theta0 = prepare(design, reml)
    out = unflatten(np.asarray(fit_lmm(theta0, arrays, model)), model)
    out["success"] = bool(out["success"])
    grad_ok = bool(np.all(np.isfinite(out["grad"]))) and float(
        np.max(np.abs(out["grad"]), initial=0.0)
    ) < GRADIENT_TOLERANCE
    out["converged"] = out["success"] and grad_ok and bool(np.isfinite(out["deviance"]))
    if not out["converged"]:
        warnings.warn(
            f"the optimiser did not converge (steps={int(out['steps'])}, "
            f"max |gradient|={np.max(np.abs(out['grad'])):.3g}); estimates may be unreliable",
            ConvergenceWarning,
            stacklevel=3,
        )
    out["order"] = order
    out["model"] = model

    def inference() -> tuple[np.ndarray, np.ndarray]:
        entries_cov, phi_cov = covariance_inference(out["theta"], out["sigma2"], arrays, model)
        return np.asarray(entries_cov), np.asarray(phi_cov)

    out["inference"] = inference
    return out
