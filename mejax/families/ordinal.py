"""Ordinal outcomes: cumulative logit or probit, P(y ≤ k) = F(c_k − η).

The cutpoints are unconstrained as the first cutpoint and the logs of the
gaps, so they are always increasing; Stata reports them as /cut1 ... .

For the logit link the category's probability factorises exactly,
F(b) − F(a) = F(b)·(1 − F(a))·(1 − e^{a−b}), with a − b = −(the cutpoints' gap)
free of η: three stable logs, no branch between the tails, and η-derivatives in
closed form, F(a) − F(−b) and −(f(a) + f(b)). The fit's gradient differentiates
these inside every Newton step and quadrature node, so the smaller graph is most
of the compile time of a fresh process's ``meologit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import expit
from scipy import special

from ..errors import DataError
from .base import Family, ResponseRows
from .binomial import LATENT_VARIANCE
from .links import LOG_2PI, log1mexp, log_expit, log_interval, marginal_cdf

_BIG = 1e4  # stands in for ±∞ at the ends of the cutpoints (F(−1e4) = 0 exactly)
_ROW_CUTS = ("cut_below", "cut_above", "log_width")  # the row values (Ordinal.row_values)


def cutpoints(aux):
    """Increasing cutpoints from (first cutpoint, log gaps).

    The running sum of the gaps is a product with a triangle of ones: one small matrix
    product, where a cumulative sum and its derivative are two scans of their own.
    """
    gaps = jnp.exp(aux[1:])
    return jnp.concatenate([aux[:1], aux[0] + np.tri(gaps.shape[0]) @ gaps])


def _normal_pdf_and_slope(x, log_prob):
    """φ(x)/P and φ'(x)/P, relative to the category's probability P (the probit link)."""
    rel = jnp.exp(-0.5 * x**2 - 0.5 * LOG_2PI - log_prob)
    return rel, -x * rel


@dataclass(frozen=True)
class Ordinal(Family):
    name: ClassVar[str] = "ordinal"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit")
    titles: ClassVar[dict[str, str]] = {
        "logit": "Mixed-effects ologit regression", "probit": "Mixed-effects oprobit regression"}
    base_models: ClassVar[dict[str, str]] = {"logit": "ologit model", "probit": "oprobit model"}
    default_statistic: ClassVar[str] = "pr"
    may_separate: ClassVar[bool] = True
    has_cutpoints: ClassVar[bool] = True
    has_mean: ClassVar[bool] = False
    pr_outcome: ClassVar[str] = "category"

    def validate(self, y, given, response) -> ResponseRows:
        categories = tuple(sorted(np.unique(y).tolist()))
        if len(categories) < 2:
            raise DataError(f"ordinal outcome {response} has a single category "
                            f"({categories[0]:g}); there is nothing to model")
        return ResponseRows(y, categories)

    def response_rows(self, y, given, categories=()):
        cats = np.asarray(categories, dtype=float)
        codes = np.searchsorted(cats, y)
        inside = (codes < len(cats)) & (cats[np.minimum(codes, len(cats) - 1)] == y)
        return {"y": np.where(inside, y, cats[0]),
                "y_code": np.where(inside, codes, 0).astype(np.int32)}, inside

    def n_aux(self, n_categories=0):
        return n_categories - 1

    def aux_names(self, n_categories=0):
        return [f"cut{k}" for k in range(1, n_categories)]

    def aux_start(self, data, n_categories=0):
        """Cutpoints at the marginal cumulative proportions of the categories."""
        codes = data["y_code"]
        cum = np.cumsum(np.bincount(codes, minlength=n_categories))[:-1] / len(codes)
        cuts = special.logit(cum) if self.link == "logit" else special.ndtri(cum)
        return np.concatenate([cuts[:1], np.log(np.diff(cuts))])

    def aux_reported(self, aux):
        return cutpoints(aux)

    def row_values(self, data, aux):
        return dict(zip(_ROW_CUTS, self._cuts(data, aux)))

    def _cuts(self, data, aux):
        """Per row: the cutpoints below and above its category (±10⁴ at the ends) and
        log(1 − e^{−gap}) of the gap between them; one gather from a table over the
        categories, or the row values bound once per likelihood (:meth:`row_values`)."""
        if _ROW_CUTS[0] in data:
            return tuple(data[key] for key in _ROW_CUTS)
        edges = jnp.concatenate([jnp.array([-_BIG]), cutpoints(aux), jnp.array([_BIG])])
        lower, upper = edges[:-1], edges[1:]
        table = jnp.stack([lower, upper, log1mexp(lower - upper)], axis=-1)
        rows = jnp.take(table, data["y_code"], axis=0, mode="clip")  # codes are in range
        return rows[..., 0], rows[..., 1], rows[..., 2]

    def _log_prob(self, eta, lower, upper, log_width):
        lo, hi = lower - eta, upper - eta
        if self.link == "logit":  # F(hi) − F(lo) = F(hi)·(1 − F(lo))·(1 − e^{lo − hi})
            return log_expit(hi) + log_expit(-lo) + log_width
        return log_interval(lo, hi, self.link)

    def log_density(self, eta, data, aux):
        return self._log_prob(eta, *self._cuts(data, aux))

    def eta_derivatives(self, eta, data, aux):
        lower, upper, log_width = self._cuts(data, aux)
        ll = self._log_prob(eta, lower, upper, log_width)
        lo, hi = lower - eta, upper - eta
        if self.link == "logit":
            f_lo, f_hi = expit(lo), expit(hi)
            return ll, f_lo + f_hi - 1.0, -(f_lo * (1.0 - f_lo) + f_hi * (1.0 - f_hi))
        pdf_hi, slope_hi = _normal_pdf_and_slope(hi, ll)
        pdf_lo, slope_lo = _normal_pdf_and_slope(lo, ll)
        d1 = pdf_lo - pdf_hi
        return ll, d1, slope_hi - slope_lo - d1**2

    def probability(self, eta, aux, var=None, outcome=None):
        """P(y = k), k = 0..K−1 (..., K); with ``var`` averaged over η + N(0, var)."""
        cum = marginal_cdf(cutpoints(aux) - eta[..., None], self.link, var)
        ones = jnp.ones(cum.shape[:-1] + (1,), dtype=cum.dtype)
        return jnp.concatenate([cum, ones], axis=-1) - jnp.concatenate(
            [jnp.zeros_like(ones), cum], axis=-1)

    def latent_variance(self) -> float:
        return LATENT_VARIANCE[self.link]

    def simulate(self, rng, eta, given, aux, categories=()):
        noise = (rng.logistic(size=eta.shape) if self.link == "logit"
                 else rng.standard_normal(eta.shape))
        codes = np.searchsorted(aux, eta + noise)  # y ≤ k  ⇔  η + ε ≤ cut_k
        return np.asarray(categories, dtype=float)[codes]
