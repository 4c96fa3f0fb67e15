"""The model's joint log density on the sampling scale (pure, traced).

log p(y | β, b, aux) + log N(u; 0, I) + the log priors of the reported
parameters + the log Jacobians of the maps from the unconstrained values to
them. The linear predictor is Xβ + offset + Σ_t z_t·b_t[codes_t] with
b_t = u_t L_t' per level: rows gather their level's effects, never a dense Z.
The outcome's density is its family's (:mod:`mejax.families`, with the row
weights of :mod:`mejax.models.density`), or the normal density of a linear
model with variance ``{e.y:sigma2}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..models.density import log_density as family_log_density
from ..models.glmm import cluster_logliks, marginal_loglik
from ..models.nonlinear import mean as nonlinear_mean
from .layout import TermLayout, vech_indices
from .model import BayesModel

LOG_2PI = float(np.log(2 * np.pi))


def exchangeable_rho(z, term: TermLayout):
    """The common correlation in (−1/(k−1), 1) from its unconstrained z (the ML engine's map)."""
    lo = term.rho_min
    return lo + (1 - lo) * jax.nn.sigmoid(z)


def term_factor(free, term: TermLayout):
    """Cholesky factor L of the term's covariance (k×k) from its unconstrained values.

    Exchangeable terms: ``free`` is (log variance, z) with the correlation
    :func:`exchangeable_rho` of z.
    """
    if term.kind == "identity":
        return jnp.exp(0.5 * free[0]) * jnp.eye(term.k)
    if term.kind == "independent":
        return jnp.diag(jnp.exp(0.5 * free))
    if term.kind == "exchangeable":
        rho = exchangeable_rho(free[1], term)
        corr = (1 - rho) * jnp.eye(term.k) + rho * jnp.ones((term.k, term.k))
        return jnp.exp(0.5 * free[0]) * jnp.linalg.cholesky(corr)
    rows, cols = vech_indices(term.k)
    values = jnp.where(rows == cols, jnp.exp(free), free)
    return jnp.zeros((term.k, term.k), free.dtype).at[rows, cols].set(values)


def term_reported(free, term: TermLayout):
    """The term's reported covariance parameters (variances, or vech of Σ)."""
    if term.kind in ("identity", "independent"):
        return jnp.exp(free)
    if term.kind == "exchangeable":
        var = jnp.exp(free[0])
        return jnp.stack([var, var * exchangeable_rho(free[1], term)])
    lower = term_factor(free, term)
    rows, cols = vech_indices(term.k)
    return (lower @ lower.T)[rows, cols]


def _log_abs_det_jacobian(fn, x):
    """log |det ∂fn/∂x| of a map between vectors of one size (small: a few entries)."""
    if x.shape[0] == 0:
        return jnp.zeros(())
    return jnp.linalg.slogdet(jax.jacfwd(fn)(x))[1]


def reported(position, model: BayesModel) -> jnp.ndarray:
    """Every reported parameter as one vector, in :meth:`Layout.scalar_names` order."""
    layout = model.layout
    parts = [position["beta"]]
    parts += [term_reported(f, t) for f, t in zip(position["cov"], layout.terms)]
    if layout.sigma2_name:
        parts.append(jnp.exp(position["log_sigma2"]))
    if layout.aux_names:
        parts.append(model.family.aux_reported(position["aux"]))
    return jnp.concatenate(parts)


def effects(position, model: BayesModel) -> list:
    """Each term's random effects b_t = u_t L_t' (levels × k)."""
    return [u @ term_factor(free, term).T for u, free, term in
            zip(position["u"], position["cov"], model.layout.terms)]


def linear_predictor(position, arrays: dict, model: BayesModel):
    """η per row: Xβ + offset + Σ_t Σ_j z_tj · b_t[level, j]; for a nonlinear model
    (``bayes: menl``) its compiled mean f(β, b) at the rows' data."""
    if model.nonlinear is not None:
        return nonlinear_mean(position["beta"], effects(position, model), arrays["codes"],
                              arrays["data"], model.nonlinear)
    eta = arrays["x"] @ position["beta"] + arrays["offset"]
    for u, free, term, z, codes in zip(position["u"], position["cov"], model.layout.terms,
                                       arrays["z"], arrays["codes"]):
        b = u @ term_factor(free, term).T  # (levels, k)
        eta = eta + jnp.sum(z * b[codes], axis=-1)
    return eta


def log_likelihood_rows(position, arrays: dict, model: BayesModel):
    """log p(y_i | β, b, aux) per row."""
    eta = linear_predictor(position, arrays, model)
    if model.layout.sigma2_name:
        log_s2 = position["log_sigma2"][0]
        resid = arrays["rows"]["y"] - eta
        return -0.5 * (LOG_2PI + log_s2 + resid**2 * jnp.exp(-log_s2))
    return family_log_density(model.family, eta, arrays["rows"], position["aux"])


def _grouped_log_prior(values, priors: list) -> jnp.ndarray:
    """Σ log p_i(v_i), one vectorised call per distinct prior (a small traced program)."""
    total = jnp.zeros(())
    for prior in dict.fromkeys(priors):
        index = np.array([i for i, p in enumerate(priors) if p == prior])
        total += jnp.sum(prior.log_density(values[index]))
    return total


def log_uniform_correlation(z, term: TermLayout):
    """log density of z when the exchangeable correlation is uniform on (−1/(k−1), 1).

    The uniform's 1/(1 − lo) times the Jacobian (1 − lo)·σ(z)(1 − σ(z)) of the map.
    """
    return -jax.nn.softplus(-z) - jax.nn.softplus(z)


def log_prior(position, model: BayesModel):
    """log priors of the reported parameters + log Jacobians + log N(u; 0, I)."""
    layout = model.layout
    priors = dict(layout.priors)
    total = _grouped_log_prior(position["beta"], [priors[n] for n in layout.coef_names])
    for free, term in zip(position["cov"], layout.terms):
        if term.kind == "unstructured":
            lower = term_factor(free, term)
            total += priors[term.matrix_name].log_density(lower @ lower.T)
            total += _log_abs_det_jacobian(lambda f, t=term: term_reported(f, t), free)
        elif term.kind == "exchangeable":
            total += priors[term.reported_names()[0]].log_density(jnp.exp(free[0])) + free[0]
            total += log_uniform_correlation(free[1], term)
        else:
            total += _grouped_log_prior(jnp.exp(free), [priors[n] for n in
                                                        term.reported_names()])
            total += jnp.sum(free)
    if layout.sigma2_name:
        total += priors[layout.sigma2_name].log_density(jnp.exp(position["log_sigma2"][0]))
        total += position["log_sigma2"][0]
    if layout.aux_names:
        aux = position["aux"]
        total += _grouped_log_prior(model.family.aux_reported(aux),
                                    [priors[n] for n in layout.aux_names])
        total += _log_abs_det_jacobian(model.family.aux_reported, aux)
    for u in position["u"]:
        total += -0.5 * jnp.sum(u**2) - 0.5 * u.size * LOG_2PI
    return total


def engine_params(position, model: BayesModel):
    """The engine's parameter vector (β, θ per term, aux) of a position without effects.

    θ is the engine's Λ in the design's effect order (:mod:`mejax.cov.structures`):
    √variance for identity and independent terms, (σ, z) for exchangeable ones, the
    lower Cholesky entries of Σ for unstructured ones.
    """
    parts = [position["beta"]]
    for free, term in zip(position["cov"], model.layout.terms):
        inverse = np.argsort(term.order)  # design column -> its position in U order
        if term.kind == "identity":
            parts.append(jnp.exp(0.5 * free[:1]))
        elif term.kind == "independent":
            parts.append(jnp.exp(0.5 * free)[inverse])
        elif term.kind == "exchangeable":  # the engine's (σ, z): the same map to ρ
            parts.append(jnp.stack([jnp.exp(0.5 * free[0]), free[1]]))
        else:
            lower = term_factor(free, term)
            sigma = (lower @ lower.T)[np.ix_(inverse, inverse)]
            rows, cols = np.tril_indices(term.k)
            parts.append(jnp.linalg.cholesky(sigma)[rows, cols])
    parts.append(position["aux"])
    return jnp.concatenate(parts)


def log_likelihood(position, arrays: dict, model: BayesModel):
    """log p(y | β, b, aux) summed over rows, or with the effects integrated out the
    engine's marginal log likelihood log p(y | β, θ, aux)."""
    if model.integrated is not None:
        return marginal_loglik(engine_params(position, model), arrays["engine"],
                               model.integrated)
    return jnp.sum(log_likelihood_rows(position, arrays, model))


def pointwise_log_likelihood(position, arrays: dict, model: BayesModel):
    """Per row log p(y_i | β, b, aux); with the effects integrated out, per top-level cluster."""
    if model.integrated is not None:
        return cluster_logliks(engine_params(position, model), arrays["engine"],
                               model.integrated)
    return log_likelihood_rows(position, arrays, model)


def log_posterior(position, arrays: dict, model: BayesModel):
    """The unnormalised log posterior density on the sampling scale."""
    return log_likelihood(position, arrays, model) + log_prior(position, model)


def free_from_reported(values: np.ndarray, term: TermLayout) -> np.ndarray:
    """The unconstrained values of a term whose reported parameters are ``values`` (host)."""
    values = np.asarray(values, float)
    if term.kind in ("identity", "independent"):
        return np.log(values)
    if term.kind == "exchangeable":
        share = (values[1] / values[0] - term.rho_min) / (1 - term.rho_min)
        return np.array([np.log(values[0]), np.log(share) - np.log1p(-share)])
    rows, cols = vech_indices(term.k)
    sigma = np.zeros((term.k, term.k))
    sigma[rows, cols] = values
    lower = np.linalg.cholesky(sigma + np.tril(sigma, -1).T)
    return np.where(rows == cols, np.log(lower[rows, cols]), lower[rows, cols])
