"""The natural unit of each GLMM parameter, read from the columns it multiplies.

A coefficient's unit is 1/sd of its column (a step of one unit moves the
linear predictor by about one); a random-effect θ's is 1/RMS of its Z column
(:meth:`mejax.cov.structures.CovStructure.theta_units`); the family's extra
parameters (log scales, cutpoints) are on the predictor's scale already.
Finite differences and the first optimiser steps use these units, so a
covariate in cents or in millions gives the same fit.
"""

from __future__ import annotations

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
