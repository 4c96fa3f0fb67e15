"""Units of columns and parameters, so that fits do not depend on how variables are scaled.

A covariate multiplied by 1e-4 multiplies its coefficient and its random-slope
standard deviation by 1e4. Optimisers, finite differences, boundary tests and
matrix inverses that use absolute sizes then go wrong; they read the units
from here instead: the root mean square of a column is its unit, and a
parameter's natural unit is the inverse of its column's.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def column_scales(columns: np.ndarray) -> np.ndarray:
    """Root mean square of each column (1 for a column of zeros or no rows)."""
    columns = np.asarray(columns, dtype=float)
    if columns.ndim == 1:
        columns = columns[:, None]
    if columns.shape[0] == 0:
        return np.ones(columns.shape[1])
    rms = np.sqrt(np.mean(columns**2, axis=0))
    return np.where((rms > 0) & np.isfinite(rms), rms, 1.0)


def spread_scales(columns: np.ndarray) -> np.ndarray:
    """Standard deviation of each column, its RMS where it is constant.

    The unit of a coefficient's change: a step of 1/sd in the coefficient of an
    income-like column (mean 5e4, sd 1e4) moves the linear predictor by about
    one, where 1/RMS would move it by five times less than its spread allows.
    """
    columns = np.asarray(columns, dtype=float)
    if columns.ndim == 1:
        columns = columns[:, None]
    rms = column_scales(columns)
    if columns.shape[0] < 2:
        return rms
    sd = columns.std(axis=0)
    return np.where((sd > 1e-12 * rms) & np.isfinite(sd), sd, rms)


def scaled_inverse(matrix):
    """Inverse of a symmetric matrix after scaling it to a unit diagonal (Jacobi).

    Information matrices of badly scaled parameters have diagonals from 1e-16
    to 1e16; inverting D⁻¹HD⁻¹ (D² = |diag H|) and scaling back loses nothing
    to those units. Works on numpy arrays (with numpy: no eager JAX operations, each of
    which compiles a program in a fresh process) and on traced jax arrays.
    """
    xp = np if isinstance(matrix, np.ndarray) else jnp
    diag = xp.abs(xp.diagonal(matrix))
    d = xp.where(diag > 0, xp.sqrt(diag), 1.0)
    unit = matrix / d[:, None] / d[None, :]
    return xp.linalg.inv(unit) / d[:, None] / d[None, :]
