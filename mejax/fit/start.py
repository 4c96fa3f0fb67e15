"""Starting values for the covariance parameters θ.

lme4 starts every relative factor at Λ = I. For a random intercept (one
constant column) a one-way method-of-moments estimate of its variance ratio is nearly free and
roughly halves the quasi-Newton steps on large crossed designs (InstEval:
53 → 28), where each step costs a dense Cholesky. Terms with several effects
keep lme4's start, Λ = I, in standardised columns (:func:`theta_units`).
"""

from __future__ import annotations

import numpy as np

from ..linalg.scaling import column_scales
from ..spec.design import Design, ReTerm

MIN_RATIO = 0.01  # keeps the start off a zero variance, where the gradient vanishes


def ols_residuals(design: Design) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(design.x, design.y, rcond=None)
    return design.y - design.x @ beta


def variance_ratio(term: ReTerm, resid: np.ndarray, sigma2: float) -> float:
    """Between-group variance of the residual means over σ², net of sampling noise."""
    counts = np.bincount(term.codes, minlength=term.n_levels)
    means = np.bincount(term.codes, weights=resid, minlength=term.n_levels) / np.maximum(counts, 1)
    between = float(np.sum(counts * means**2) / counts.sum())
    noise = sigma2 * term.n_levels / counts.sum()
    return max(between - noise, MIN_RATIO * sigma2) / sigma2


def term_units(term: ReTerm) -> np.ndarray:
    """The units of a term's θ: the inverse RMS of its Z columns (see ``theta_units``)."""
    return term.structure.theta_units(column_scales(term.z))


def theta_units(design: Design, order: list[int], n_residual: int = 0) -> np.ndarray:
    """Units of the whole θ in block order; residual-structure parameters have unit 1.

    The optimiser works in θ/units, where a covariate scaled by 1e-4 changes
    nothing: its slope's θ is 1e4 times larger and so is its unit.
    """
    parts = [term_units(design.re_terms[i]) for i in order] + [np.ones(n_residual)]
    return np.concatenate(parts)


def theta_start(design: Design, order: list[int]) -> np.ndarray:
    """θ₀ in block order: moment estimates for scalar terms, Λ = I in standardised columns
    otherwise."""
    terms = [design.re_terms[i] for i in order]
    scalar = [t.z.shape[1] == 1 and bool(np.all(t.z == 1.0)) for t in terms]
    resid = ols_residuals(design) if any(scalar) else None
    sigma2 = float(resid.var()) if resid is not None else 0.0
    parts = []
    for term, is_intercept in zip(terms, scalar):
        init = term.structure.theta_init() * term_units(term)
        if is_intercept and sigma2 > 0:
            init = np.sqrt(variance_ratio(term, resid, sigma2)) * init
        parts.append(init)
    return np.concatenate(parts) if parts else np.zeros(0)
