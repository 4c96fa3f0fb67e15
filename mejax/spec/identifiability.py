"""Random-effects designs whose variance components the data cannot identify (lme4's checks).

A linear model with as many levels as rows cannot tell a random intercept from
the residual (lme4: "number of levels of each grouping factor must be <
number of observations"), nor a term with at least as many random effects as
rows ("number of observations <= number of random effects"). GLMMs have no
residual variance, so observation-level effects are allowed there (lme4's
``allow.n``); only more levels than rows is refused. A random slope on a
variable that is constant within every group cannot be told apart from the
random intercept: that gets a warning (lme4 fits it to a singular boundary).
"""

from __future__ import annotations

import warnings

import numpy as np

from .design import Design, ReTerm
from .model import DataError


class IdentifiabilityWarning(UserWarning):
    """Variance components that the design identifies only weakly or not at all."""


def check_identifiable(design: Design, residual_variance: bool) -> None:
    """Refuse non-identifiable random parts, warn on confounded slopes (host, before tracing).

    ``residual_variance``: the model has one (linear mixed models) — then
    levels = rows confounds a random intercept with it.
    """
    n = design.nobs
    for term in design.re_terms:
        if residual_variance and design.residual is None and term.n_levels >= n:
            raise DataError(
                f"{term.label} has {term.n_levels} levels for {n} observations: with (at most) "
                "one observation per group a random effect cannot be told apart from the "
                "residual (lme4: the number of levels of each grouping factor must be < the "
                "number of observations); drop the term or group at a coarser level")
        if not residual_variance and term.n_levels > n:
            raise DataError(f"{term.label} has {term.n_levels} levels for only {n} observations")
        n_effects = term.n_levels * term.z.shape[1]
        if residual_variance and design.residual is None and term.z.shape[1] > 1 \
                and n <= n_effects:
            raise DataError(
                f"the term ({' + '.join(term.effect_names)} | {term.label}) has {n_effects} "
                f"random effects ({term.n_levels} levels × {term.z.shape[1]}) for {n} "
                "observations: its variances and the residual variance are not identifiable "
                "(lme4: number of observations <= number of random effects); use fewer random "
                "slopes, an independent covariance, or more data per group")
        _warn_constant_slopes(term)


def constant_within_groups(term: ReTerm) -> np.ndarray:
    """For each column of the term's Z: is it constant within every level?"""
    # the largest deviation from the level means, by bincount sums: O(rows), no pandas
    # groupby (this runs on every fit, and a warm sleepstudy fit takes about a millisecond)
    codes = np.asarray(term.codes)
    counts = np.maximum(np.bincount(codes), 1)
    spread = np.array([
        np.max(np.abs(col - (np.bincount(codes, weights=col) / counts)[codes]))
        for col in np.asarray(term.z, dtype=float).T])
    scale = np.sqrt(np.mean(term.z**2, axis=0))
    return spread <= 1e-10 * np.where(scale > 0, scale, 1.0)


def _warn_constant_slopes(term: ReTerm) -> None:
    if term.z.shape[1] < 2:
        return
    constant = constant_within_groups(term)
    if constant.sum() < 2:
        return
    names = [name for name, c in zip(term.effect_names, constant) if c]
    slopes = [name for name in names if name not in ("(Intercept)", "_cons")] or names[1:]
    warnings.warn(
        f"random effects {', '.join(names)} of {term.label} are all constant within every "
        f"level of {term.label}: the random slope(s) on {', '.join(slopes)} cannot be told "
        "apart from the random intercept (only the spread of the group means identifies "
        "them); keep them as fixed effects, or move the slope to a grouping level within "
        "which they vary", IdentifiabilityWarning, stacklevel=4)
