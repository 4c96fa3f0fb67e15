"""Residual (R-side) covariance structures within the lowest-level group.

The residual covariance of group i is σ² R̃_i(η): σ² is profiled out of the
deviance like the usual residual variance, and R̃ is built from unconstrained
parameters η. With ``by()``, every level b of the by-variable has its own
structural parameters and a relative standard deviation δ_b (δ_0 = 1), as
Stata parameterises it (σ_b = σ·δ_b).

Correlations are read from a lag table: R̃_i[j, k] = table[by_i, lag_ijk] with
lag_ijk = |t_j − t_k| (integer time) or, for exchangeable, 1 off the diagonal.
Unstructured and banded matrices are indexed by the positions of the distinct
time values; exponential uses the continuous distance |t_j − t_k|.

Parameters η (per by-level, then log δ_1..):
- exchangeable, toeplitz: atanh of the correlations
- ar p: atanh of the partial autocorrelations (stationary for any η)
- ma q: the MA coefficients θ themselves
- exponential: log(−log ρ), with corr = ρ^|Δt|
- unstructured / banded: a (banded) lower Cholesky factor with log diagonal and
  its (0, 0) entry fixed at one (σ² carries the scale); a banded matrix has a
  banded Cholesky factor, so every positive-definite banded matrix is reachable.
- unstructured_correlation (menl's ``rescorrelation(unstructured)``, nlme's corSymm):
  a correlation matrix C = L Lᵀ whose Cholesky rows are (η_i1, .., η_i,i−1, 1)
  normalised to unit length, so C has a unit diagonal and is positive definite for
  any η; one common variance σ².
- banded_correlation (menl's ``rescorrelation(banded #)``): the same with the rows'
  entries outside the band fixed at zero; a banded L gives a banded C, and every
  positive-definite banded correlation matrix has such a factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

# R̃'s condition number above which a computed log likelihood has too few digits left
ILL_CONDITIONED = 1e10

LABELS = {
    "independent": "Independent", "exchangeable": "Exchangeable", "ar": "AR",
    "ma": "MA", "toeplitz": "Toeplitz", "banded": "Banded",
    "unstructured": "Unstructured", "exponential": "Exponential",
    "unstructured_correlation": "Unstructured corr.", "banded_correlation": "Banded corr.",
}
# indexed by the positions of the distinct times (r_pos), built from a (banded) factor
POSITION_KINDS = ("unstructured", "banded", "unstructured_correlation", "banded_correlation")


@dataclass(frozen=True)
class ResidualStructure:
    """Static description of one residual structure (hashable: part of the jit key).

    ``n_lags``: length of the lag table (largest lag + 1); ``n_times``: number
    of distinct time values (unstructured/banded); ``time_labels``: how the
    distinct times are named in ``var(e#)``.
    """

    kind: str
    order: int
    n_by: int
    n_lags: int
    n_times: int
    time_labels: tuple[str, ...] = ()
    by_labels: tuple[str, ...] = ()

    # ---- parameter layout -------------------------------------------------------------
    def n_struct(self) -> int:
        """Structural parameters of one by-level."""
        if self.kind in ("exchangeable", "exponential"):
            return 1
        if self.kind in ("ar", "ma", "toeplitz"):
            return self.order
        if self.kind in ("unstructured", "banded"):
            return len(self._chol_entries()) - 1
        if self.kind in ("unstructured_correlation", "banded_correlation"):
            return len(self._corr_entries())
        return 0

    def n_params(self) -> int:
        return self.n_by * self.n_struct() + self.n_by - 1

    def params_init(self, typical_distance: float = 1.0) -> np.ndarray:
        per_level = np.zeros(self.n_struct())
        if self.kind == "exponential":
            per_level[:] = np.log(np.log(2.0) / max(typical_distance, 1e-12))  # ρ^d = 0.5
        return np.concatenate([np.tile(per_level, self.n_by), np.zeros(self.n_by - 1)])

    @property
    def is_markov(self) -> bool:
        """AR(1) and exponential: each error depends on the past only through the previous one.

        Then R̃^{-1/2} is bidiagonal in time order (Prais–Winsten with gaps) and
        whitening needs no factorization.
        """
        return (self.kind == "ar" and self.order == 1) or self.kind == "exponential"

    def previous_correlation(self, eta, arrays):
        """Correlation of each row with the previous row of its group, (G, M); 0 for first rows."""
        struct, _ = self._split(eta)
        by_group = arrays["r_by_group"][:, None]
        if self.kind == "exponential":
            corr = jnp.exp(-jnp.exp(struct[:, 0])[by_group] * arrays["r_gap"])
        else:
            corr = self.lag_table(struct)[by_group, arrays["r_gap"]]
        return corr * arrays["r_has_previous"]

    def row_scale(self, eta, arrays):
        """Relative residual sd δ of each row, (G, M); 1 for padding."""
        _, log_delta = self._split(eta)
        return jnp.where(arrays["r_mask"] > 0, jnp.exp(log_delta)[arrays["r_by_row"]], 1.0)

    def _split(self, eta):
        n_s = self.n_struct()
        struct = eta[: self.n_by * n_s].reshape(self.n_by, n_s)
        log_delta = jnp.concatenate([jnp.zeros(1, eta.dtype), eta[self.n_by * n_s :]])
        return struct, log_delta

    def _band(self) -> int:
        full = self.n_times - 1
        return min(self.order, full) if self.kind in ("banded", "banded_correlation") else full

    def _chol_entries(self) -> list[tuple[int, int]]:
        band = self._band()
        return [(i, j) for i in range(self.n_times) for j in range(i + 1) if i - j <= band]

    def _corr_entries(self) -> list[tuple[int, int]]:
        """Free entries of the correlation factor: below the diagonal, within the band."""
        band = self._band()
        return [(i, j) for i in range(self.n_times) for j in range(i) if i - j <= band]

    # ---- building blocks ----------------------------------------------------------------
    def lag_table(self, struct):
        """Correlation by lag, (n_by, n_lags), for the lag-indexed structures."""
        return jax.vmap(self._lag_row)(struct)

    def _lag_row(self, eta):
        n = self.n_lags
        if self.kind == "exchangeable":
            return jnp.stack([jnp.ones((), eta.dtype), jnp.tanh(eta[0])])
        if self.kind == "toeplitz":
            row = jnp.concatenate([jnp.ones(1, eta.dtype), jnp.tanh(eta)])
        elif self.kind == "ma":
            theta = jnp.concatenate([jnp.ones(1, eta.dtype), eta])
            q = self.order
            gamma = jnp.stack([jnp.sum(theta[: q + 1 - k] * theta[k:]) for k in range(q + 1)])
            row = gamma / gamma[0]
        else:  # ar
            row = ar_autocorrelations(jnp.tanh(eta), n)
        if row.shape[0] >= n:
            return row[:n]
        return jnp.concatenate([row, jnp.zeros(n - row.shape[0], eta.dtype)])

    def chol_factor(self, eta):
        """Relative (banded) Cholesky factor of one by-level, (n_times, n_times)."""
        entries = self._chol_entries()
        rows = np.array([i for i, _ in entries])
        cols = np.array([j for _, j in entries])
        values = jnp.concatenate([jnp.zeros(1, eta.dtype), eta])  # (0,0): log 1
        values = jnp.where(jnp.asarray(rows == cols), jnp.exp(values), values)
        return jnp.zeros((self.n_times, self.n_times), eta.dtype).at[rows, cols].set(values)

    def correlation_factor(self, eta):
        """Cholesky factor of one by-level's correlation matrix, (n_times, n_times): row i
        is (η_i1, .., η_i,i−1, 1) (zero outside the band) divided by its length, so L Lᵀ
        has a unit diagonal."""
        entries = self._corr_entries()
        rows = np.array([i for i, _ in entries], dtype=int)
        cols = np.array([j for _, j in entries], dtype=int)
        raw = jnp.eye(self.n_times, dtype=eta.dtype).at[rows, cols].set(eta[:len(entries)])
        return raw / jnp.sqrt(jnp.sum(raw * raw, axis=1, keepdims=True))

    def correlation_matrix(self, eta):
        """One by-level's unstructured or banded correlation matrix (unit diagonal)."""
        low = self.correlation_factor(eta)
        return low @ low.T

    def level_matrix(self, eta):
        """One by-level's relative covariance of the distinct times, (n_times, n_times),
        for the position-indexed structures (:data:`POSITION_KINDS`)."""
        if self.kind in ("unstructured", "banded"):
            low = self.chol_factor(eta)
            return low @ low.T
        return self.correlation_matrix(eta)

    def _pairs(self) -> list[tuple[int, int]]:
        """(i, j), i < j, within the band, in Stata's order: corr(e1,e2), corr(e1,e3), ..,
        corr(e2,e3), .."""
        band = self._band()
        return [(i, j) for i in range(self.n_times) for j in range(i + 1, self.n_times)
                if j - i <= band]

    def relative_cov(self, eta, arrays):
        """R̃_i for every group, (G, M, M); padded rows get the identity."""
        struct, log_delta = self._split(eta)
        mask = arrays["r_mask"]
        by_group = arrays["r_by_group"]
        if self.kind in POSITION_KINDS:
            full = jax.vmap(self.level_matrix)(struct)
            pos = arrays["r_pos"]
            corr = full[by_group[:, None, None], pos[:, :, None], pos[:, None, :]]
        elif self.kind == "exponential":
            rho_log = -jnp.exp(struct[:, 0])  # log ρ per by-level
            corr = jnp.exp(rho_log[by_group][:, None, None] * arrays["r_dist"])
        elif self.kind == "independent":
            corr = jnp.broadcast_to(jnp.eye(mask.shape[1]), mask.shape + mask.shape[1:])
        else:
            table = self.lag_table(struct)
            corr = table[by_group[:, None, None], arrays["r_lag"]]
        scale = jnp.exp(log_delta)[arrays["r_by_row"]] * mask
        cov = corr * scale[:, :, None] * scale[:, None, :]
        pad = jnp.eye(mask.shape[1]) * (1.0 - mask)[:, :, None]
        return cov + pad

    def condition_numbers(self, eta, arrays) -> np.ndarray:
        """Condition number of every group's R̃ (host side, numpy; ``inf`` if not positive
        definite)."""
        eig = np.linalg.eigvalsh(np.asarray(self.relative_cov(jnp.asarray(eta), arrays)))
        smallest = eig[:, 0]
        return np.where(smallest > 0, eig[:, -1] / np.where(smallest > 0, smallest, 1.0),
                        np.inf)

    def near_singular(self, eta, arrays) -> str:
        """Why estimates at η cannot be trusted, or ``""`` (host side). Above a condition
        number of :data:`ILL_CONDITIONED` the Cholesky factor of R̃, log|R̃| and the quadratic
        forms keep too few correct digits: the computed log likelihood is rounding noise and
        an optimiser can climb it to a spurious optimum. Diagonal and Markov structures
        (Prais–Winsten, |ρ| < 1) factorise nothing and are not checked."""
        if self.kind == "independent" or self.is_markov:
            return ""
        cond = float(np.max(self.condition_numbers(eta, arrays)))
        if cond <= ILL_CONDITIONED:
            return ""
        return (f"the residual covariance ({self.title()}) is near singular at the "
                f"estimates (condition number {cond:.1e}), so the log likelihood there is "
                "not computed reliably and the fit is not a trustworthy optimum; try a "
                "simpler residual structure (banded, toeplitz, ar) or other starting values")

    # ---- reporting ------------------------------------------------------------------------
    def title(self) -> str:
        name = LABELS[self.kind]
        if self.kind in ("ar", "ma"):
            name = f"{name}({self.order})"
        elif self.kind in ("toeplitz", "banded", "banded_correlation"):
            name = f"{name}({self.order if self.kind == 'toeplitz' else self._band()})"
        return name

    def parameter_names(self) -> list[tuple[str, str]]:
        """(label, scale) per reported value of one by-level; scale picks the CI transform."""
        kind = self.kind
        if kind == "independent":
            names = []
        elif kind == "exchangeable":
            names = [("rho", "atanh")]
        elif kind == "exponential":
            names = [("rho", "logit")]
        elif kind == "ar":
            names = [("rho", "atanh")] if self.order == 1 else [
                (f"phi{k}", "none") for k in range(1, self.order + 1)]
        elif kind == "ma":
            names = [(f"theta{k}", "none") for k in range(1, self.order + 1)]
        elif kind == "toeplitz":
            names = [(f"rho{k}", "atanh") for k in range(1, self.order + 1)]
        elif kind in ("unstructured_correlation", "banded_correlation"):
            t = self.time_labels
            names = [(f"corr(e{t[i]},e{t[j]})", "atanh") for i, j in self._pairs()]
        else:
            t = self.time_labels
            names = [(f"var(e{t[i]})", "log") for i in range(self.n_times)]
            band = self._band()
            names += [(f"cov(e{t[i]},e{t[j]})", "none") for i in range(self.n_times)
                      for j in range(i + 1, self.n_times) if j - i <= band]
            return names
        return names + [("var(e)", "log")]

    def reported(self, eta, sigma2):
        """Reported values, by-level after by-level, in :meth:`parameter_names` order."""
        struct, log_delta = self._split(eta)
        out = []
        for b in range(self.n_by):
            var = sigma2 * jnp.exp(2 * log_delta[b])
            out.extend(self._level_values(struct[b], var))
        return jnp.stack(out)

    def _level_values(self, eta, var):
        kind = self.kind
        if kind == "independent":
            return [var]
        if kind in ("exchangeable", "toeplitz"):
            return list(jnp.tanh(eta)) + [var]
        if kind == "exponential":
            return [jnp.exp(-jnp.exp(eta[0])), var]
        if kind == "ma":
            return list(eta) + [var]
        if kind == "ar":
            return list(ar_coefficients(jnp.tanh(eta))) + [var]
        if kind in ("unstructured_correlation", "banded_correlation"):
            corr = self.correlation_matrix(eta)
            return [corr[i, j] for i, j in self._pairs()] + [var]
        full = var * self.level_matrix(eta)
        band = self._band()
        values = [full[i, i] for i in range(self.n_times)]
        values += [full[i, j] for i in range(self.n_times) for j in range(i + 1, self.n_times)
                   if j - i <= band]
        return values


def ar_coefficients(pacf):
    """AR coefficients φ from partial autocorrelations (Durbin–Levinson step-up)."""
    phi = jnp.zeros(0, pacf.dtype)
    for k in range(pacf.shape[0]):
        phi = jnp.concatenate([phi - pacf[k] * phi[::-1], pacf[k : k + 1]])
    return phi


def ar_autocorrelations(pacf, n_lags: int):
    """Autocorrelations ρ_0..ρ_{n_lags-1} of the stationary AR process with these PACFs."""
    p = pacf.shape[0]
    rho = [jnp.ones((), pacf.dtype)]
    phi = jnp.zeros(0, pacf.dtype)
    innovation = jnp.ones((), pacf.dtype)
    for k in range(p):
        past = jnp.stack(rho[1 : k + 1][::-1]) if k else jnp.zeros(0, pacf.dtype)
        rho.append(jnp.sum(phi * past) + pacf[k] * innovation)
        phi = jnp.concatenate([phi - pacf[k] * phi[::-1], pacf[k : k + 1]])
        innovation = innovation * (1 - pacf[k] ** 2)
    head = jnp.stack(rho)
    if n_lags <= p + 1:
        return head
    # beyond the order: ρ_k = Σ_j φ_j ρ_{k−j}, carried as the last p values (newest first)

    def step(last, _):
        new = jnp.sum(phi * last)
        return jnp.concatenate([new[None], last[:-1]]), new

    _, tail = jax.lax.scan(step, head[::-1][:p], None, length=n_lags - p - 1)
    return jnp.concatenate([head, tail])
