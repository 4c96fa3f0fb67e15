"""Conditional log likelihoods of the GLMM outcome families (pure, traced).

Each family is written once, as the log density of y given the linear
predictor η; the score and curvature in η that Newton's method and the
Laplace approximation need come from autodiff (:func:`eta_derivatives`).
All formulas are arranged to stay finite in the tails (log Φ via
``log_ndtr``, log expit via softplus, log(1 - e^x) by cases).

Extra parameters ("aux") are unconstrained: ordinal cutpoints are the first
cutpoint and the logs of the gaps, so they are always increasing; negative
binomial dispersion is ln α (mean) or ln δ (constant), as Stata reports it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln, log_ndtr, polygamma

from ..spec.family import Family

_BIG = 1e4  # stands in for ±∞ at the ends of the ordinal cutpoints (F(−1e4) = 0 exactly)
_LOG_2PI = 1.8378770664093453


def log_expit(x):
    return -jnp.logaddexp(0.0, -x)


def log1mexp(x):
    """log(1 - e^x) for x < 0, accurate at both ends."""
    return jnp.where(x > -0.6931471805599453, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def _log_cdf(x, link: str):
    return log_expit(x) if link == "logit" else log_ndtr(x)


def _log_interval(lo, hi, link: str):
    """log(F(hi) − F(lo)) for lo < hi, from the lower or the upper tail as is accurate.

    Each branch sees harmless inputs where it is not selected, so that its
    gradient (multiplied by zero) cannot be NaN.
    """
    use_upper = lo > 0
    lo_l, hi_l = jnp.where(use_upper, -1.0, lo), jnp.where(use_upper, 0.0, hi)
    lo_u, hi_u = jnp.where(use_upper, lo, 1.0), jnp.where(use_upper, hi, 2.0)
    lower = _log_cdf(hi_l, link) + log1mexp(_log_cdf(lo_l, link) - _log_cdf(hi_l, link))
    upper = _log_cdf(-lo_u, link) + log1mexp(_log_cdf(-hi_u, link) - _log_cdf(-lo_u, link))
    return jnp.where(use_upper, upper, lower)


def n_aux(family: Family, n_categories: int) -> int:
    if family.name == "ordinal":
        return n_categories - 1
    return 1 if family.name == "nbinomial" else 0


def aux_names(family: Family, n_categories: int) -> list[str]:
    """Stata's names of the extra parameters: /cut1 ... or /lnalpha, /lndelta."""
    if family.name == "ordinal":
        return [f"cut{k}" for k in range(1, n_categories)]
    if family.name == "nbinomial":
        return ["lnalpha" if family.dispersion == "mean" else "lndelta"]
    return []


def cutpoints(aux):
    """Increasing cutpoints from (first cutpoint, log gaps)."""
    return jnp.concatenate([aux[:1], aux[0] + jnp.cumsum(jnp.exp(aux[1:]))])


def aux_reported(aux, family: Family):
    """Extra parameters on Stata's reporting scale (cutpoints; ln α or ln δ)."""
    return cutpoints(aux) if family.name == "ordinal" else aux


def aux_from_reported(values, family: Family):
    """Inverse of :func:`aux_reported` (host starting values)."""
    if family.name != "ordinal":
        return values
    return jnp.concatenate([values[:1], jnp.log(jnp.diff(values))])


def row_loglik(eta, data: dict, aux, family: Family):
    """log p(y_i | η_i) for every row; ``data`` holds y (and trials), broadcastable to η."""
    y = data["y"]
    link = family.link
    if family.name == "binomial":
        m = data["trials"]
        if link == "logit":
            log_p, log_q = log_expit(eta), log_expit(-eta)
        elif link == "probit":
            log_p, log_q = log_ndtr(eta), log_ndtr(-eta)
        else:  # cloglog: P = 1 − exp(−e^η)
            e = jnp.exp(jnp.minimum(eta, 700.0))
            log_p, log_q = log1mexp(-e), -e
        return data["log_choose"] + y * log_p + (m - y) * log_q
    if family.name == "poisson":
        return y * eta - jnp.exp(eta) - data["log_fact"]
    if family.name == "nbinomial":
        ln_disp = aux[0]
        if family.dispersion == "mean":  # size r = 1/α, p = 1/(1 + αμ)
            size = jnp.exp(-ln_disp) * jnp.ones_like(eta)
            s = ln_disp + eta
        else:  # size r = μ/δ, p = 1/(1 + δ)
            size = jnp.exp(eta - ln_disp)
            s = ln_disp * jnp.ones_like(eta)
        return (gammaln(y + size) - gammaln(size) - data["log_fact"]
                + size * log_expit(-s) + y * log_expit(s))
    # ordinal: P(y = k) = F(c_k − η) − F(c_{k−1} − η), categories coded 0..K−1
    cuts = jnp.concatenate([jnp.array([-_BIG]), cutpoints(aux), jnp.array([_BIG])])
    yi = data["y_code"]
    return _log_interval(cuts[yi] - eta, cuts[yi + 1] - eta, link)


def eta_derivatives_autodiff(eta, data: dict, aux, family: Family):
    """:func:`eta_derivatives` by autodiff of :func:`row_loglik` (the tests' oracle)."""
    def total(e):
        return jnp.sum(row_loglik(e, data, aux, family))

    ll = row_loglik(eta, data, aux, family)
    d1, d2 = jax.jvp(jax.grad(total), (eta,), (jnp.ones_like(eta),))
    return ll, d1, d2


def eta_derivatives(eta, data: dict, aux, family: Family):
    """Per-row log likelihood, score ∂ℓ/∂η and curvature ∂²ℓ/∂η², in closed form.

    Closed forms keep the compiled graph small: the Laplace objective and its
    gradient and Hessian differentiate these again.
    """
    ll = row_loglik(eta, data, aux, family)
    y, link = data["y"], family.link
    if family.name == "binomial":
        m = data["trials"]
        if link == "logit":
            p = jax.nn.sigmoid(eta)
            return ll, y - m * p, -m * p * (1 - p)
        if link == "probit":
            log_pdf = -0.5 * eta**2 - 0.5 * _LOG_2PI
            ratio_p = jnp.exp(log_pdf - log_ndtr(eta))  # φ/Φ(η)
            ratio_q = jnp.exp(log_pdf - log_ndtr(-eta))  # φ/Φ(−η)
            d1 = y * ratio_p - (m - y) * ratio_q
            d2 = -y * ratio_p * (eta + ratio_p) - (m - y) * ratio_q * (ratio_q - eta)
            return ll, d1, d2
        e = jnp.exp(jnp.minimum(eta, 700.0))  # cloglog
        r = jnp.where(e > 1e-300, e / jnp.expm1(jnp.maximum(e, 1e-300)), 1.0)
        return ll, y * r - (m - y) * e, y * r * (1 - e - r) - (m - y) * e
    if family.name == "poisson":
        mu = jnp.exp(eta)
        return ll, y - mu, -mu
    if family.name == "nbinomial":
        ln_disp = aux[0]
        if family.dispersion == "mean":
            alpha_mu = jnp.exp(ln_disp + eta)
            mu = jnp.exp(eta)
            return ll, (y - mu) / (1 + alpha_mu), -mu * (1 + jnp.exp(ln_disp) * y) / (
                1 + alpha_mu) ** 2
        size = jnp.exp(eta - ln_disp)
        d1 = size * (digamma(y + size) - digamma(size) + log_expit(-ln_disp))
        return ll, d1, d1 + size**2 * (polygamma(1, y + size) - polygamma(1, size))
    cuts = jnp.concatenate([jnp.array([-_BIG]), cutpoints(aux), jnp.array([_BIG])])
    yi = data["y_code"]
    hi, lo = cuts[yi + 1] - eta, cuts[yi] - eta
    pdf_hi, slope_hi = _pdf_and_slope(hi, ll, link)
    pdf_lo, slope_lo = _pdf_and_slope(lo, ll, link)
    d1 = pdf_lo - pdf_hi
    return ll, d1, slope_hi - slope_lo - d1**2


def _pdf_and_slope(x, log_prob, link: str):
    """f(x)/P and f'(x)/P for the ordinal link's density f, relative to the category's P."""
    if link == "logit":
        log_f = log_expit(x) + log_expit(-x)
        rel = jnp.exp(log_f - log_prob)
        return rel, rel * jnp.tanh(-0.5 * x)  # f' = f(1 − 2F)
    rel = jnp.exp(-0.5 * x**2 - 0.5 * _LOG_2PI - log_prob)
    return rel, -x * rel
