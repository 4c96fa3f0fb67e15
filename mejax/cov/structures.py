"""Random-effects covariance structures.

One class per structure owns everything about it: how many optimisation
parameters it has, how they map to the relative Cholesky factor Λ (the
profiled-deviance parameterisation of lme4 and MixedModels.jl), how Stata's
reporting parameters (log standard deviations, atanh correlations) map to the
covariance matrix, and which variance/covariance entries are reported.

Optimisation parameters ``theta`` are unconstrained: the deviance depends on
ΛΛ' only, which is invariant to flipping the sign of a column of Λ, so a zero
variance is an interior stationary point rather than a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import jax.numpy as jnp
import numpy as np

COVARIANCE_ALIASES = {
    "identity": "identity", "id": "identity", "iden": "identity",
    "independent": "independent", "ind": "independent", "inde": "independent",
    "indep": "independent", "diag": "independent", "diagonal": "independent",
    "exchangeable": "exchangeable", "ex": "exchangeable", "exc": "exchangeable",
    "exch": "exchangeable", "cs": "exchangeable",
    "unstructured": "unstructured", "un": "unstructured", "uns": "unstructured",
    "unstr": "unstructured", "unstructure": "unstructured",
}


def canonical_covariance(name: str) -> str:
    """Full name of a covariance structure from any accepted abbreviation."""
    key = name.strip().lower()
    if key not in COVARIANCE_ALIASES:
        raise ValueError(
            f"unknown covariance structure {name!r}; use identity, independent, "
            "exchangeable or unstructured"
        )
    return COVARIANCE_ALIASES[key]


def _corr_pairs(k: int) -> list[tuple[int, int]]:
    return list(combinations(range(k), 2))


@dataclass(frozen=True)
class CovStructure:
    """Base class; ``k`` is the number of random effects in the term."""

    k: int
    label = ""

    # ---- optimisation scale -------------------------------------------------
    def n_theta(self) -> int:
        raise NotImplementedError

    def theta_init(self) -> np.ndarray:
        raise NotImplementedError

    def lam(self, theta):
        """Relative Cholesky factor Λ (k×k, lower) with Σ = σ² ΛΛ'."""
        raise NotImplementedError

    def theta_units(self, effect_scales: np.ndarray) -> np.ndarray:
        """The unit of each θ when the effects' columns have RMS ``effect_scales``.

        Λ's row i multiplies column i of Z, so in standardised columns
        (Z·diag(1/s)) the same model has Λ_s = diag(s)Λ: θ = units·θ_s.
        Structures with a common variance take one unit for all columns.
        """
        raise NotImplementedError

    # ---- Stata's reporting scale ------------------------------------------------
    def n_phi(self) -> int:
        raise NotImplementedError

    def sigma_from_phi(self, phi):
        raise NotImplementedError

    def phi_from_sigma(self, sigma):
        raise NotImplementedError

    def entries(self) -> list[tuple[int, int]]:
        """(i, j) positions of the reported variances (i == j) and covariances."""
        raise NotImplementedError

    def entry_param(self) -> list[int]:
        """For each reported entry, the index of the φ parameter it shows.

        A variance shows its log-sd, a covariance its atanh-correlation; entries
        constrained equal (identity, exchangeable) share one φ.
        """
        return list(range(len(self.entries())))


@dataclass(frozen=True)
class Identity(CovStructure):
    label = "Identity"

    def n_theta(self):
        return 1

    def theta_init(self):
        return np.ones(1)

    def lam(self, theta):
        return theta[0] * jnp.eye(self.k)

    def theta_units(self, effect_scales):
        return np.ones(1) / _common_scale(effect_scales)

    def n_phi(self):
        return 1

    def sigma_from_phi(self, phi):
        return jnp.exp(2 * phi[0]) * jnp.eye(self.k)

    def phi_from_sigma(self, sigma):
        return 0.5 * jnp.log(sigma[0, 0])[None]

    def entries(self):
        return [(i, i) for i in range(self.k)]

    def entry_param(self):
        return [0] * self.k


@dataclass(frozen=True)
class Independent(CovStructure):
    label = "Independent"

    def n_theta(self):
        return self.k

    def theta_init(self):
        return np.ones(self.k)

    def lam(self, theta):
        return jnp.diag(theta)

    def theta_units(self, effect_scales):
        return 1.0 / np.asarray(effect_scales, dtype=float)

    def n_phi(self):
        return self.k

    def sigma_from_phi(self, phi):
        return jnp.diag(jnp.exp(2 * phi))

    def phi_from_sigma(self, sigma):
        return 0.5 * jnp.log(jnp.diag(sigma))

    def entries(self):
        return [(i, i) for i in range(self.k)]


@dataclass(frozen=True)
class Exchangeable(CovStructure):
    """Common variance and common correlation ρ in (-1/(k-1), 1)."""

    label = "Exchangeable"

    def _rho_min(self) -> float:
        return -1.0 / (self.k - 1) if self.k > 1 else -1.0

    def n_theta(self):
        return 2 if self.k > 1 else 1

    def theta_init(self):
        if self.k == 1:
            return np.ones(1)
        lo = self._rho_min()
        z0 = float(np.log(-lo / 1.0))  # sigmoid(z0) maps back to rho = 0
        return np.array([1.0, z0])

    def _corr(self, rho):
        return (1 - rho) * jnp.eye(self.k) + rho * jnp.ones((self.k, self.k))

    def lam(self, theta):
        if self.k == 1:
            return theta[0] * jnp.eye(1)
        lo = self._rho_min()
        rho = lo + (1 - lo) * jax_sigmoid(theta[1])
        return theta[0] * jnp.linalg.cholesky(self._corr(rho))

    def theta_units(self, effect_scales):
        unit = 1.0 / _common_scale(effect_scales)
        return np.array([unit]) if self.k == 1 else np.array([unit, 1.0])

    def n_phi(self):
        return 2 if self.k > 1 else 1

    def sigma_from_phi(self, phi):
        var = jnp.exp(2 * phi[0])
        if self.k == 1:
            return var * jnp.eye(1)
        return var * self._corr(jnp.tanh(phi[1]))

    def phi_from_sigma(self, sigma):
        lnsd = 0.5 * jnp.log(sigma[0, 0])
        if self.k == 1:
            return lnsd[None]
        return jnp.stack([lnsd, jnp.arctanh(sigma[1, 0] / sigma[0, 0])])

    def entries(self):
        return [(i, i) for i in range(self.k)] + [(j, i) for i, j in _corr_pairs(self.k)]

    def entry_param(self):
        n_cov = len(_corr_pairs(self.k))
        return [0] * self.k + [1] * n_cov


@dataclass(frozen=True)
class Unstructured(CovStructure):
    label = "Unstructured"

    def n_theta(self):
        return self.k * (self.k + 1) // 2

    def theta_init(self):
        rows, cols = np.tril_indices(self.k)
        return (rows == cols).astype(float)

    def lam(self, theta):
        rows, cols = np.tril_indices(self.k)
        return jnp.zeros((self.k, self.k), dtype=theta.dtype).at[rows, cols].set(theta)

    def theta_units(self, effect_scales):
        rows, _ = np.tril_indices(self.k)
        return 1.0 / np.asarray(effect_scales, dtype=float)[rows]

    def n_phi(self):
        return self.k + len(_corr_pairs(self.k))

    def sigma_from_phi(self, phi):
        sd = jnp.exp(phi[: self.k])
        corr = jnp.eye(self.k, dtype=phi.dtype)
        for n, (i, j) in enumerate(_corr_pairs(self.k)):
            r = jnp.tanh(phi[self.k + n])
            corr = corr.at[i, j].set(r).at[j, i].set(r)
        return corr * sd[:, None] * sd[None, :]

    def phi_from_sigma(self, sigma):
        sd = jnp.sqrt(jnp.diag(sigma))
        rho = [sigma[j, i] / (sd[i] * sd[j]) for i, j in _corr_pairs(self.k)]
        return jnp.concatenate([jnp.log(sd), jnp.arctanh(jnp.stack(rho)) if rho else jnp.zeros(0)])

    def entries(self):
        return [(i, i) for i in range(self.k)] + [(j, i) for i, j in _corr_pairs(self.k)]


@dataclass(frozen=True)
class NoEffects(CovStructure):
    """A placeholder term with Λ = 0, for models whose only structure is residual.

    It keeps the blocked factorization's shape (one block per residual group)
    and contributes nothing: no parameters, nothing reported.
    """

    label = ""

    def n_theta(self):
        return 0

    def theta_init(self):
        return np.zeros(0)

    def lam(self, theta):
        return jnp.zeros((self.k, self.k))

    def theta_units(self, effect_scales):
        return np.zeros(0)

    def n_phi(self):
        return 0

    def phi_from_sigma(self, sigma):
        return jnp.zeros(0)

    def entries(self):
        return []


def _common_scale(effect_scales) -> float:
    """Geometric mean of the columns' scales: one unit for a common variance."""
    return float(np.exp(np.mean(np.log(np.asarray(effect_scales, dtype=float)))))


def jax_sigmoid(z):
    return 1.0 / (1.0 + jnp.exp(-z))


STRUCTURES = {
    "identity": Identity,
    "independent": Independent,
    "exchangeable": Exchangeable,
    "unstructured": Unstructured,
}


def make_structure(name: str, k: int) -> CovStructure:
    """Build the named structure for a term with ``k`` random effects."""
    name = canonical_covariance(name)
    if k == 1 and name in ("independent", "exchangeable", "unstructured"):
        name = "identity"  # all four coincide for one effect; Stata labels it Identity
    return STRUCTURES[name](k)
