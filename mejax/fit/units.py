"""The natural unit of each GLMM parameter, read from the columns it multiplies.

A coefficient's unit is 1/sd of its column (a step of one unit moves the
linear predictor by about one); a random-effect θ's is 1/RMS of its Z column
(:meth:`mejax.cov.structures.CovStructure.theta_units`); the family's extra
parameters (log scales, cutpoints) are on the predictor's scale already.
Finite differences and the first optimiser steps use these units, so a
covariate in cents or in millions gives the same fit.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..linalg.scaling import column_scales, spread_scales
from ..spec.design import Design


def glmm_parameter_units(design: Design, with_effects: bool, n_aux: int) -> np.ndarray:
    """Units of (β, θ per term, aux) in the order of the flat parameter vector."""
    parts = [1.0 / spread_scales(design.x)]
    if with_effects:
        parts += [t.structure.theta_units(column_scales(t.z)) for t in design.re_terms]
    parts.append(np.ones(n_aux))
    return np.concatenate(parts)


OVERFLOW = 1e150  # squares of larger values (and products of smaller ones) leave float64


def warn_extreme_values(design: Design) -> None:
    """lme4's "rescale variables?": columns whose cross-products overflow or underflow.

    Fits are invariant to the units of the columns (θ, steps and inverses work in
    standardised units), except where float64 itself gives out.
    """
    columns = {"response " + design.response: design.y,
               **{name: design.x[:, j] for j, name in enumerate(design.x_names)}}
    extreme = []
    for name, values in columns.items():
        size = np.abs(values[values != 0])
        if size.size and (size.max() > OVERFLOW or size.max() < 1.0 / OVERFLOW):
            extreme.append(f"{name} (|values| up to {size.max():.3g})")
    if extreme:
        warnings.warn(f"{', '.join(extreme)}: values this extreme overflow float64 in the "
                      "cross-products; rescale variables?", UserWarning, stacklevel=4)
