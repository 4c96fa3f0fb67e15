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
from jax.scipy.special import gammaln, log_ndtr

from ..spec.family import Family

_BIG = 1e10  # stands in for ±∞ at the ends of the ordinal cutpoints


def log_expit(x):
    return -jnp.logaddexp(0.0, -x)


def log1mexp(x):
    """log(1 - e^x) for x < 0, accurate at both ends."""
    return jnp.where(x > -0.6931471805599453, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def _log_cdf(x, link: str):
    return log_expit(x) if link == "logit" else log_ndtr(x)


def _log_interval(lo, hi, link: str):
    """log(F(hi) − F(lo)) for lo < hi, from the lower or the upper tail as is accurate."""
    lower = _log_cdf(hi, link) + log1mexp(_log_cdf(lo, link) - _log_cdf(hi, link))
    upper = _log_cdf(-lo, link) + log1mexp(_log_cdf(-hi, link) - _log_cdf(-lo, link))
    return jnp.where(lo > 0, upper, lower)


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


def eta_derivatives(eta, data: dict, aux, family: Family):
    """Per-row log likelihood, score ∂ℓ/∂η and curvature ∂²ℓ/∂η² (autodiff; rows separate)."""
    def total(e):
        return jnp.sum(row_loglik(e, data, aux, family))

    def score(e):
        return jax.grad(total)(e)

    ll = row_loglik(eta, data, aux, family)
    d1, d2 = jax.jvp(score, (eta,), (jnp.ones_like(eta),))
    return ll, d1, d2
