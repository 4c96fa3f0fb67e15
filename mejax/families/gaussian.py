"""The Gaussian outcome with the identity link: the linear mixed model as a family.

``mixed`` keeps its own profiled fast path (REML, Kenward–Roger, residual
structures); this family is the same model for the general engine, where
what it offers and the profiled path does not is needed: pseudo-likelihood
weights, survey designs and sandwich variances. The integral over Gaussian
random effects of a Gaussian density is Gaussian, so the Laplace
approximation is exact here. Its one aux parameter is ln σ_e, reported as the
residual variance σ²_e in the variance-components table (Stata's var(Residual)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from ..errors import DataError
from .base import Family, ResponseRows

HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))


@dataclass(frozen=True)
class Gaussian(Family):
    link: str = "identity"

    name: ClassVar[str] = "gaussian"
    links: ClassVar[tuple[str, ...]] = ("identity",)
    titles: ClassVar[dict[str, str]] = {"identity": "Mixed-effects regression"}
    base_models: ClassVar[dict[str, str]] = {"identity": "linear model"}
    residual_variance_aux: ClassVar[bool] = True
    exact_laplace: ClassVar[bool] = True

    def validate(self, y, given, response) -> ResponseRows:
        if not np.all(np.isfinite(y)):
            raise DataError(f"outcome {response} has non-finite values")
        return ResponseRows(y)

    def response_rows(self, y, given, categories=()):
        valid = np.isfinite(y)
        return {"y": np.where(valid, y, 0.0)}, valid

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["var(e)"]

    def aux_start(self, data, n_categories=0):
        sd = float(np.std(data["y"]))
        return np.array([np.log(sd if sd > 0 else 1.0)])

    def aux_reported(self, aux):
        """σ²_e from ln σ_e."""
        return jnp.exp(2.0 * aux)

    def log_density(self, eta, data, aux):
        r = (data["y"] - eta) * jnp.exp(-aux[0])
        return -HALF_LOG_2PI - aux[0] - 0.5 * r**2

    def eta_derivatives(self, eta, data, aux):
        precision = jnp.exp(-2.0 * aux[0])
        return (self.log_density(eta, data, aux), (data["y"] - eta) * precision,
                -precision * jnp.ones_like(eta))

    def mean(self, eta, trials, aux, var=None):
        return eta

    def probability(self, eta, aux, var=None, outcome=None):
        raise DataError("probabilities are not defined for a continuous outcome; predict the "
                        "mean")

    def variance(self, mu, trials, aux):
        return np.full_like(mu, np.exp(2.0 * aux[0]))

    def deviance(self, y, mu, trials, aux):
        return (y - mu) ** 2

    def simulate(self, rng, eta, given, aux, categories=()):
        return rng.normal(eta, np.sqrt(aux[0]))
