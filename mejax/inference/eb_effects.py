"""Empirical Bayes predictions of a GLMM's random effects b = Λu (host side).

- ``ebmeans`` (Stata's default): posterior means E[b | y] with posterior
  standard deviations, by mean-variance adaptive Gauss–Hermite quadrature
  with the fit's number of points per dimension (7 after a Laplace fit),
  whatever method fitted the model, as Stata does;
- ``ebmodes``: the conditional modes û (lme4's ``ranef``) with standard
  errors from the inverse curvature of the integrand at the mode,
  Λ H⁻¹ Λ' with H = I + Σ w_i v_i v_i' (lme4's ``condVar``).

Models with nested or crossed levels have modes only: their posterior means
would need the joint integral over all levels; ``ebmeans`` then gives the
modes with a warning.
"""

from __future__ import annotations

import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules)

from ..models.glmm import conditional_posterior, posterior_moments
from ..models.glmm_structure import (
    GlmmStructure,
    random_variance,
    relative_factor,
    split_params,
)
from ..spec.model import SpecError
from .effects import Predictive, RandomEffects, TermEffects, register_predictive
from .predict import KINDS

EB_NODES = 7  # integration points of ebmeans after Laplace fits
# Empirical Bayes effects per fitted result, computed once (weakly keyed: they go with it)
_EB_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_posterior = jax.jit(conditional_posterior, static_argnames=("model",))
_moments = jax.jit(posterior_moments, static_argnames=("model", "nodes"))


# ---- empirical Bayes effects -------------------------------------------------------------
def _term_slices(model) -> list[slice]:
    out, start = [], 0
    for s in model.structures:
        out.append(slice(start, start + s.k))
        start += s.k
    return out


def _lambdas(params, model) -> list[np.ndarray]:
    _, thetas, _ = split_params(params, model)
    return [np.asarray(s.lam(t), dtype=float) for s, t in zip(model.structures, thetas)]


def _grouped_effects(u, cov_u, lams, model) -> list[TermEffects]:
    out = []
    for i, (sl, lam) in enumerate(zip(_term_slices(model), lams)):
        b = u[:, sl] @ lam.T
        var = np.einsum("ij,gjk,lk->gil", lam, cov_u[:, sl, sl], lam)
        out.append(TermEffects(i, b, var, lam @ lam.T))
    return out


def _sparse_effects(u, h_inv, lams, design) -> list[TermEffects]:
    out, start = [], 0
    for i, (term, lam) in enumerate(zip(design.re_terms, lams)):
        n, k = term.n_levels, lam.shape[0]
        idx = start + np.arange(n)[:, None] * k + np.arange(k)
        b = u[idx] @ lam.T
        var = np.einsum("ij,gjk,lk->gil", lam, h_inv[idx[:, :, None], idx[:, None, :]], lam)
        out.append(TermEffects(i, b, var, lam @ lam.T))
        start += n * k
    return out


def _modes(result) -> list[TermEffects]:
    model, arrays = result.model, result.report.arrays
    params = jnp.asarray(result.params)
    mode, low, _ = _posterior(params, arrays, model)
    mode, low = np.asarray(mode, dtype=float), np.asarray(low, dtype=float)
    lams = _lambdas(params, model)
    if model.integration.per_group:
        low_inv = np.linalg.inv(low)  # H⁻¹ = L'⁻¹L⁻¹ per group
        return _grouped_effects(mode, np.einsum("gji,gjk->gik", low_inv, low_inv), lams, model)
    h_inv = scipy.linalg.cho_solve((low, True), np.eye(len(mode)))
    return _sparse_effects(mode, h_inv, lams, result.design)


def _means(result, nodes: int) -> list[TermEffects]:
    model, arrays = result.model, result.report.arrays
    params = jnp.asarray(result.params)
    mean, cov = _moments(params, arrays, model, nodes)
    return _grouped_effects(np.asarray(mean, dtype=float), np.asarray(cov, dtype=float),
                            _lambdas(params, model), model)


def eb_nodes(result, nodes: int | None = None) -> int:
    """Quadrature points of the posterior means: the fit's, or 7 after Laplace (as Stata)."""
    model = result.model
    if nodes is not None:
        if int(nodes) < 1:
            raise SpecError(f"intpoints({nodes}) must be a positive integer")
        return int(nodes)
    return model.integration.posterior_nodes(EB_NODES)


def eb_effects(result, ebmodes: bool = False, nodes: int | None = None) -> RandomEffects:
    """Empirical Bayes means (default) or modes of every term (cached per result)."""
    integration = result.model.integration
    if not integration.has_effects:
        return RandomEffects("ebmodes" if ebmodes else "ebmeans", [])
    means = not ebmodes and integration.has_posterior_means
    if not ebmodes and not means:
        warnings.warn("empirical Bayes means need the joint integral over nested or crossed "
                      "levels; using the empirical Bayes modes (ebmodes) instead", stacklevel=3)
    nodes = eb_nodes(result, nodes)
    key = ("means", nodes) if means else ("modes",)
    cache = _EB_CACHE.setdefault(result, {})
    if key not in cache:
        cache[key] = _means(result, nodes) if means else _modes(result)
    return RandomEffects("ebmeans" if means else "ebmodes", cache[key])


class GlmmPredictive(Predictive):
    """A GLMM's family, empirical Bayes effects and estimates, as post-estimation reads them."""

    def __init__(self, result):
        self.result = result
        self.family = result.family
        self.kinds = KINDS + self.family.statistics
        self.default_kind = self.family.default_statistic

    def random_effects(self, ebmodes=False, nodes=None, se_type=None) -> RandomEffects:
        return eb_effects(self.result, ebmodes, nodes)

    def outcome_rows(self):
        glm = self.result.design.glm
        return glm.offset, glm.given, glm.data["y"]

    def family_aux(self) -> np.ndarray:
        return np.asarray(self._split()[2])

    def marginal_variance(self, z):
        if not self.result.model.integration.has_effects:
            return np.zeros(len(z))
        _, thetas, _ = self._split()
        lam = relative_factor(thetas, self.result.model)
        return np.asarray(random_variance(jnp.asarray(z), lam))

    def _split(self):
        return split_params(jnp.asarray(self.result.params), self.result.model)

    def residual_whitener(self):
        return None

    def estimates(self):
        """All estimates (β, θ, the family's) with the inverse observed information (or
        its sandwich) and the structure that splits them."""
        result = self.result
        return np.asarray(result.params), result.params_vcov, result.model

    def variances(self):
        """The level-1 variance is the family's estimated σ²_e or its fixed latent one
        (π²/3 logistic, 1 normal), a constant."""
        uncertainty = self.result.uncertainty
        cov_params, jacs, values = (uncertainty.params_vcov, uncertainty.jacobians,
                                    uncertainty.values)
        entries = np.asarray(values[0], dtype=float)
        jac = np.asarray(jacs[0])
        if self.family.residual_variance_aux:  # σ²_ε = var(e.y), estimated
            jac = np.vstack([jac, np.asarray(jacs[2])[:1]])
            v = np.concatenate([entries, np.asarray(values[2], dtype=float)[:1]])
            return v, jac @ cov_params @ jac.T
        v = np.concatenate([entries, [self.family.latent_variance()]])
        cov = np.zeros((len(v), len(v)))
        cov[:-1, :-1] = jac @ cov_params @ jac.T  # the latent variance is a constant
        return v, cov


register_predictive(GlmmStructure, GlmmPredictive)
