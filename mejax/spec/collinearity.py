"""Which fixed-effect columns are (numerically) linear combinations of earlier ones.

Scale-free: every column is scaled to unit length first, so a covariate in
nanometres or in light years gets the same verdict. The diagonal of the QR
factor of the scaled matrix is then, for each column, the sine of its angle to
the span of the columns before it; below ``RANK_TOLERANCE`` the column is
omitted, later columns first, as Stata omits them (and as lme4's default
check, base R's ``qr(X, tol = 1e-7)``, decides).
"""

from __future__ import annotations

import numpy as np

RANK_TOLERANCE = 1e-7  # lme4's rank check (R's qr() tolerance, relative to each column)


def collinear_columns(x: np.ndarray, tol: float = RANK_TOLERANCE) -> list[int]:
    """Indices of the columns of ``x`` that lie within ``tol`` of the span of earlier ones.

    A column of zeros is collinear with anything. The test is invariant to
    rescaling any column.
    """
    x = np.asarray(x, dtype=float)
    if x.shape[1] == 0:
        return []
    norms = np.sqrt(np.sum(x**2, axis=0))
    zero = norms == 0
    scaled = x / np.where(zero, 1.0, norms)
    r = np.linalg.qr(scaled, mode="r")  # numpy's LAPACK geqrf: no scipy.linalg import
    sines = np.abs(np.diag(r)) if x.shape[0] >= x.shape[1] else np.concatenate(
        [np.abs(np.diag(r)), np.zeros(x.shape[1] - x.shape[0])])
    return [j for j in range(x.shape[1]) if zero[j] or sines[j] <= tol]
