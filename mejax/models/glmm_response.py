"""Predictions of a GLMM on the response scale (pure, traced).

Given the linear predictor η of each row, the conditional statistics are the
mean (trials·p for binomial outcomes, exp η for counts), the probability of a
success or of every ordinal category, and P(y = n) for counts. The marginal
(population-averaged) versions integrate a normal random contribution out:
row i's random part z_i'b is N(0, v_i) with v_i = |z_i'Λ|² whatever the
number of levels, so each is a one-dimensional integral — closed form for
the probit and log links, Gauss–Hermite quadrature otherwise.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import expit, ndtr
from scipy.special import gammaln

from ..spec.family import Family
from .families import cutpoints, row_loglik

MARGINAL_NODES = 64  # Gauss–Hermite points of the marginal (population-averaged) integrals


def cdf(x, link: str):
    """The inverse link as a distribution function: expit, Φ or 1 − exp(−eˣ)."""
    if link == "logit":
        return expit(x)
    if link == "probit":
        return ndtr(x)
    return -jnp.expm1(-jnp.exp(jnp.minimum(x, 700.0)))


def _gauss_hermite(fn, eta, var):
    """E[fn(η + s·Z)], Z ~ N(0, 1), s² = var, by Gauss–Hermite quadrature (rows broadcast)."""
    xi, w = np.polynomial.hermite.hermgauss(MARGINAL_NODES)
    s = jnp.sqrt(var)[..., None]
    values = fn(eta[..., None] + np.sqrt(2.0) * s * xi)
    return jnp.sum(values * (w / np.sqrt(np.pi)), axis=-1)


def success_probability(eta, link: str, var=None):
    """P(y = 1 | η) of a binomial row; with ``var`` averaged over η + N(0, var)."""
    if var is None:
        return cdf(eta, link)
    if link == "probit":
        return ndtr(eta / jnp.sqrt(1.0 + var))
    return _gauss_hermite(lambda e: cdf(e, link), eta, var)


def category_probabilities(eta, aux, link: str, var=None):
    """P(y = k), k = 0..K−1, of an ordinal row: (..., K); F(c_k − η) differences."""
    cuts = cutpoints(aux)
    if var is None:
        cum = cdf(cuts - eta[..., None], link)
    elif link == "probit":
        cum = ndtr((cuts - eta[..., None]) / jnp.sqrt(1.0 + var)[..., None])
    else:
        xi, w = np.polynomial.hermite.hermgauss(MARGINAL_NODES)
        shifted = eta[..., None] + np.sqrt(2.0) * jnp.sqrt(var)[..., None] * xi  # (..., M)
        cum = jnp.sum(cdf(cuts - shifted[..., None], link) * (w / np.sqrt(np.pi))[:, None],
                      axis=-2)
    ones = jnp.ones(cum.shape[:-1] + (1,), dtype=cum.dtype)
    upper = jnp.concatenate([cum, ones], axis=-1)
    lower = jnp.concatenate([jnp.zeros_like(ones), cum], axis=-1)
    return upper - lower


def mean(eta, trials, family: Family, var=None):
    """E[y | η]: trials·p (binomial) or exp η (counts); with ``var`` averaged over η."""
    if family.name == "binomial":
        return trials * success_probability(eta, family.link, var)
    if family.name in ("poisson", "nbinomial"):
        return jnp.exp(eta if var is None else eta + 0.5 * var)
    raise ValueError("the mean is not defined for ordinal outcomes; predict probabilities")


def count_probability(eta, count: float, aux, family: Family, var=None):
    """P(y = count | η) of a Poisson or negative binomial row; with ``var`` averaged."""
    log_fact = float(gammaln(count + 1.0))

    def pr(e):
        data = {"y": jnp.full(e.shape, float(count)), "log_fact": jnp.full(e.shape, log_fact)}
        return jnp.exp(row_loglik(e, data, aux, family))

    return pr(eta) if var is None else _gauss_hermite(pr, eta, var)


def random_variance(z, lam):
    """Variance of each row's random part z_i'b, b ~ N(0, ΛΛ'): |z_i'Λ|²."""
    return jnp.sum((z @ lam) ** 2, axis=-1)
