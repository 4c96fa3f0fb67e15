"""A dense, written-apart check of a menl fit with a residual structure nlme cannot express.

At the Lindstrom–Bates fixed point the fit is the linear mixed model of the mean's
linearisation. This module rebuilds that model with numpy alone — X and Z by central
differences of the mean (no JAX), the marginal covariance V_g = var(U) z_g z_g' + R_g
of every group built densely from the reported parameters (R_g written by the test,
with scipy.linalg.toeplitz and the like) — and checks that mejax's estimates are its
maximum likelihood estimates: the log likelihood there, β̂ as the GLS estimate, the
BLUPs, no gain from a derivative-free search around them, and SEs from a
finite-difference observed information on the reported scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

LOG_2PI = np.log(2.0 * np.pi)


def jacobian(fn: Callable, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of ``fn`` (rows) in every coordinate of ``x`` (columns)."""
    cols = []
    for k in range(x.size):
        h = step * max(1.0, abs(x[k]))
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        cols.append((fn(up) - fn(down)) / (2 * h))
    return np.stack(cols, axis=-1)


class DenseLinearised:
    """The linearised model of a one-level, one-effect menl fit, in dense numpy.

    ``mean(beta, u_rows)`` is the model's mean in numpy; ``groups`` the group code of
    every row (0..G-1); ``residual_cov(values, rows)`` the residual covariance R_g of the
    rows of one group from the reported residual parameters ``values``.
    """

    def __init__(self, mean, y, groups, beta, u, residual_cov):
        self.y, self.groups, self.residual_cov = y, groups, residual_cov
        u_rows = u[groups]
        fitted = mean(beta, u_rows)
        self.x = jacobian(lambda b: mean(b, u_rows), beta)
        # each row's mean depends on its own group's effect only: one shift of all rows
        self.z = jacobian(lambda shift: mean(beta, u_rows + shift[0]), np.zeros(1))[:, 0]
        self.work = y - fitted + self.x @ beta + self.z * u_rows
        self.blocks = [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]

    def _v(self, var_u, residual, rows):
        z = self.z[rows]
        return var_u * np.outer(z, z) + self.residual_cov(residual, rows)

    def gls(self, values):
        """(log likelihood, β̂, BLUPs) at the reported values (var(U), residual...)."""
        var_u, residual = values[0], values[1:]
        inv = [np.linalg.inv(self._v(var_u, residual, rows)) for rows in self.blocks]
        xtx = sum(self.x[r].T @ vi @ self.x[r] for r, vi in zip(self.blocks, inv))
        xty = sum(self.x[r].T @ vi @ self.work[r] for r, vi in zip(self.blocks, inv))
        beta = np.linalg.solve(xtx, xty)
        loglik, blups = -0.5 * len(self.y) * LOG_2PI, []
        for rows, vi in zip(self.blocks, inv):
            r = self.work[rows] - self.x[rows] @ beta
            loglik -= 0.5 * (-np.linalg.slogdet(vi)[1] + r @ vi @ r)
            blups.append(var_u * self.z[rows] @ vi @ r)
        return loglik, beta, np.array(blups)

    def loglik(self, values) -> float:
        try:
            return self.gls(values)[0]
        except np.linalg.LinAlgError:
            return -np.inf

    def search_gain(self, values, to_free: Callable, from_free: Callable) -> tuple:
        """The best log likelihood a Nelder–Mead search from ``values`` finds (on the free
        scale ``to_free``/``from_free``), and where."""
        start = to_free(np.asarray(values, float))
        sol = optimize.minimize(lambda f: -self.loglik(from_free(f)), start,
                                method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        return -sol.fun, from_free(sol.x)

    def standard_errors(self, values, step: float = 1e-4) -> np.ndarray:
        """SEs of the reported values from a central-difference Hessian (relative steps)."""
        v = np.asarray(values, float)
        h = step * np.maximum(np.abs(v), 1e-2)
        n = v.size
        steps = np.diag(h)

        def at(i, j, a, b):
            return self.loglik(v + a * steps[i] + b * steps[j])

        hess = np.zeros((n, n))
        for i in range(n):
            for j in range(i, n):
                hess[i, j] = hess[j, i] = (at(i, j, 1, 1) - at(i, j, 1, -1) - at(i, j, -1, 1)
                                           + at(i, j, -1, -1)) / (4 * h[i] * h[j])
        return np.sqrt(np.diag(np.linalg.inv(-hess)))
