"""Binomial (and Bernoulli) outcomes with logit, probit or cloglog links."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr
from scipy import special

from ..errors import DataError, SpecError
from .base import Family, ResponseRows, is_integer
from .links import LOG_2PI, cdf, log1mexp, log_expit, marginal_cdf

LATENT_VARIANCE = {"logit": float(np.pi**2 / 3), "probit": 1.0}


def log_choose(trials, y):
    return special.gammaln(trials + 1) - special.gammaln(y + 1) - special.gammaln(trials - y + 1)


@dataclass(frozen=True)
class Binomial(Family):
    """y successes out of ``trials``: a column name or a positive integer (None: Bernoulli)."""

    trials: str | int | None = None

    name: ClassVar[str] = "binomial"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    titles: ClassVar[dict[str, str]] = {
        "logit": "Mixed-effects logistic regression",
        "probit": "Mixed-effects probit regression",
        "cloglog": "Mixed-effects cloglog regression"}
    base_models: ClassVar[dict[str, str]] = {
        "logit": "logistic model", "probit": "probit model", "cloglog": "cloglog model"}
    default_statistic: ClassVar[str] = "mu"
    may_separate: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ("trials",)

    def __post_init__(self):
        super().__post_init__()
        t = self.trials
        if isinstance(t, bool) or (isinstance(t, (int, float)) and (t < 1 or int(t) != t)):
            raise SpecError(f"binomial trials must be a column name or a positive integer, "
                            f"got {t!r}")
        if isinstance(t, float):
            object.__setattr__(self, "trials", int(t))

    def columns(self) -> set[str]:
        extra = {self.trials} if isinstance(self.trials, str) else set()
        return super().columns() | extra

    def trials_values(self, frame, n: int) -> np.ndarray:
        if isinstance(self.trials, str):
            if not frame.numeric[self.trials]:
                raise DataError(f"binomial trials variable {self.trials!r} must be numeric")
            return frame.values(self.trials)
        return np.full(n, 1.0 if self.trials is None else float(self.trials))

    def observed(self, y):
        return (y != 0).astype(float) if self.trials is None else y

    def validate(self, y, given, response) -> ResponseRows:
        trials = given["trials"]
        notes: tuple[str, ...] = ()
        if self.trials is None:
            if not np.isin(y, (0.0, 1.0)).all():
                note = (f"{response} has values other than 0 and 1; as Stata does, nonzero "
                        "values are treated as successes (1)")
                warnings.warn(note, stacklevel=5)
                notes = (note,)
                y = self.observed(y)
        else:
            if np.any(trials < 1) or not np.all(is_integer(trials)):
                raise DataError(f"binomial trials {self.trials!r} must be positive integers")
            if np.any(y < 0) or np.any(y > trials) or not np.all(is_integer(y)):
                raise DataError(f"{response} must be an integer count of successes between 0 "
                                f"and the number of trials ({self.trials})")
        if np.all(y == 0) or np.all(y == trials):
            raise DataError(f"outcome {response} does not vary: every observation is a "
                            f"{'failure' if np.all(y == 0) else 'success'}")
        return ResponseRows(y, (), notes)

    def response_rows(self, y, given, categories=()):
        trials = np.broadcast_to(given["trials"], y.shape)
        valid = (y >= 0) & (y <= trials) & is_integer(y)
        safe = np.where(valid, y, 0.0)
        return {"y": safe, "trials": trials, "log_choose": log_choose(trials, safe)}, valid

    def _log_p_q(self, eta):
        if self.link == "logit":
            return log_expit(eta), log_expit(-eta)
        if self.link == "probit":
            return log_ndtr(eta), log_ndtr(-eta)
        e = jnp.exp(jnp.minimum(eta, 700.0))  # cloglog: P = 1 − exp(−e^η)
        return log1mexp(-e), -e

    def log_density(self, eta, data, aux):
        y, m = data["y"], data["trials"]
        if self.link == "logit":  # log p = η + log q: one softplus per row (quadrature's cost)
            return data["log_choose"] + y * eta + m * log_expit(-eta)
        log_p, log_q = self._log_p_q(eta)
        return data["log_choose"] + y * log_p + (m - y) * log_q

    def eta_derivatives(self, eta, data, aux):
        ll = self.log_density(eta, data, aux)
        y, m = data["y"], data["trials"]
        if self.link == "logit":
            p = jax.nn.sigmoid(eta)
            return ll, y - m * p, -m * p * (1 - p)
        if self.link == "probit":
            log_pdf = -0.5 * eta**2 - 0.5 * LOG_2PI
            ratio_p = jnp.exp(log_pdf - log_ndtr(eta))  # φ/Φ(η)
            ratio_q = jnp.exp(log_pdf - log_ndtr(-eta))  # φ/Φ(−η)
            d1 = y * ratio_p - (m - y) * ratio_q
            d2 = -y * ratio_p * (eta + ratio_p) - (m - y) * ratio_q * (ratio_q - eta)
            return ll, d1, d2
        e = jnp.exp(jnp.minimum(eta, 700.0))
        r = jnp.where(e > 1e-300, e / jnp.expm1(jnp.maximum(e, 1e-300)), 1.0)
        return ll, y * r - (m - y) * e, y * r * (1 - e - r) - (m - y) * e

    def probability(self, eta, aux, var=None, outcome=None):
        """P(y = 1 | η) of a binomial row; with ``var`` averaged over η + N(0, var)."""
        return marginal_cdf(eta[..., None], self.link, var)[..., 0]

    def mean(self, eta, trials, aux, var=None):
        return trials * self.probability(eta, aux, var)

    def variance(self, mu, trials, aux):
        return mu * (1 - mu / trials)

    def deviance(self, y, mu, trials, aux):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * (special.xlogy(y, y / mu)
                        + special.xlogy(trials - y, (trials - y) / (trials - mu)))

    def latent_variance(self) -> float:
        if self.link not in LATENT_VARIANCE:
            return super().latent_variance()
        return LATENT_VARIANCE[self.link]

    def simulate(self, rng, eta, given, aux, categories=()):
        trials = given["trials"]
        p = np.asarray(cdf(jnp.asarray(eta), self.link))
        return rng.binomial(np.broadcast_to(trials, eta.shape).astype(np.int64), p).astype(float)
