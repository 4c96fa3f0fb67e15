"""Count outcomes: Poisson and negative binomial (mean or constant dispersion), log link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, gammaln, polygamma
from scipy import special

from ..errors import DataError, SpecError
from .base import Family, ResponseRows, is_integer
from .links import gauss_hermite_mean, log_expit


@dataclass(frozen=True)
class _Count(Family):
    """What both count families share: validation, rows, means and count probabilities."""

    allows_exposure: ClassVar[bool] = True
    pr_outcome: ClassVar[str] = "count"

    def validate(self, y, given, response) -> ResponseRows:
        if np.any(y < 0):
            raise DataError(f"count outcome {response} has negative values")
        if not np.all(is_integer(y)):
            raise DataError(f"count outcome {response} has non-integer values")
        return ResponseRows(y)

    def response_rows(self, y, given, categories=()):
        valid = (y >= 0) & is_integer(y)
        safe = np.where(valid, y, 0.0)
        return {"y": safe, "log_fact": special.gammaln(safe + 1)}, valid

    def mean(self, eta, trials, aux, var=None):
        return jnp.exp(eta if var is None else eta + 0.5 * var)

    def probability(self, eta, aux, var=None, outcome=None):
        """P(y = outcome | η); with ``var`` averaged over η + N(0, var)."""
        if outcome is None:
            raise SpecError("predict, pr after a count model needs outcome=n: P(y = n)")
        count = float(outcome)
        log_fact = float(special.gammaln(count + 1.0))

        def pr(e):
            data = {"y": jnp.full(e.shape, count), "log_fact": jnp.full(e.shape, log_fact)}
            return jnp.exp(self.log_density(e, data, aux))

        return pr(eta) if var is None else gauss_hermite_mean(pr, eta, var)


@dataclass(frozen=True)
class Poisson(_Count):
    link: str = "log"

    name: ClassVar[str] = "poisson"
    links: ClassVar[tuple[str, ...]] = ("log",)
    titles: ClassVar[dict[str, str]] = {"log": "Mixed-effects Poisson regression"}
    base_models: ClassVar[dict[str, str]] = {"log": "Poisson model"}

    def log_density(self, eta, data, aux):
        return data["y"] * eta - jnp.exp(eta) - data["log_fact"]

    def eta_derivatives(self, eta, data, aux):
        mu = jnp.exp(eta)
        return self.log_density(eta, data, aux), data["y"] - mu, -mu

    def variance(self, mu, trials, aux):
        return mu

    def deviance(self, y, mu, trials, aux):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * (special.xlogy(y, y / mu) - (y - mu))

    def simulate(self, rng, eta, given, aux, categories=()):
        return rng.poisson(np.exp(eta)).astype(float)


@dataclass(frozen=True)
class NegativeBinomial(_Count):
    """Var = μ(1 + αμ) (``dispersion="mean"``, /lnalpha) or μ(1 + δ) ("constant", /lndelta)."""

    link: str = "log"
    dispersion: str = "mean"

    name: ClassVar[str] = "nbinomial"
    links: ClassVar[tuple[str, ...]] = ("log",)
    titles: ClassVar[dict[str, str]] = {"log": "Mixed-effects nbinomial regression"}
    base_models: ClassVar[dict[str, str]] = {"log": "nbinomial model"}
    options: ClassVar[tuple[str, ...]] = ("dispersion",)

    def __post_init__(self):
        super().__post_init__()
        if self.dispersion not in ("mean", "constant"):
            raise SpecError(f"dispersion({self.dispersion}) must be mean or constant")

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["lnalpha" if self.dispersion == "mean" else "lndelta"]

    def dispersion_value(self, reported):
        return float(np.exp(reported[0]))

    def _size_and_logit(self, eta, ln_disp):
        """NB size r and the logit s of 1 − p: r = 1/α, s = ln α + η (mean); r = μ/δ, s = ln δ."""
        if self.dispersion == "mean":
            return jnp.exp(-ln_disp) * jnp.ones_like(eta), ln_disp + eta
        return jnp.exp(eta - ln_disp), ln_disp * jnp.ones_like(eta)

    def log_density(self, eta, data, aux):
        y = data["y"]
        size, s = self._size_and_logit(eta, aux[0])
        return (gammaln(y + size) - gammaln(size) - data["log_fact"]
                + size * log_expit(-s) + y * log_expit(s))

    def eta_derivatives(self, eta, data, aux):
        ll = self.log_density(eta, data, aux)
        y, ln_disp = data["y"], aux[0]
        if self.dispersion == "mean":
            alpha_mu = jnp.exp(ln_disp + eta)
            mu = jnp.exp(eta)
            return ll, (y - mu) / (1 + alpha_mu), -mu * (1 + jnp.exp(ln_disp) * y) / (
                1 + alpha_mu) ** 2
        size = jnp.exp(eta - ln_disp)
        d1 = size * (digamma(y + size) - digamma(size) + log_expit(-ln_disp))
        return ll, d1, d1 + size**2 * (polygamma(1, y + size) - polygamma(1, size))

    def variance(self, mu, trials, aux):
        disp = np.exp(aux[0])
        return mu * (1 + disp * mu) if self.dispersion == "mean" else mu * (1 + disp)

    def deviance(self, y, mu, trials, aux):
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.dispersion == "mean":
                alpha = np.exp(aux[0])
                return 2 * (special.xlogy(y, y / mu)
                            - (y + 1 / alpha) * np.log((1 + alpha * y) / (1 + alpha * mu)))
            # constant dispersion: twice the log likelihood ratio against mu = y
            data, _ = self.response_rows(y, {})
            aux_j = jnp.asarray(aux)

            def ll(m):
                return np.asarray(self.log_density(jnp.log(jnp.maximum(m, 1e-300)), data,
                                                   aux_j))

            return 2 * (ll(y) - ll(mu))

    def simulate(self, rng, eta, given, aux, categories=()):
        mu = np.exp(eta)
        disp = float(np.exp(aux[0]))
        # gamma–Poisson: mean μ; variance μ(1 + αμ) (mean) or μ(1 + δ) (constant)
        shape = np.full_like(mu, 1 / disp) if self.dispersion == "mean" else mu / disp
        return rng.poisson(rng.gamma(shape, mu / shape)).astype(float)
