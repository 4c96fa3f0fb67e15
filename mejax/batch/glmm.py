"""Batch refits, simulation and point estimates of a generalized linear mixed model.

Many responses on one design: the response-dependent row arrays (y and its
normalising constants, the ordinal category codes) are built per chunk on
the host; the compiled call vmaps :func:`mejax.fit.glmm.fit_glmm` over them,
every fit starting at the original estimates. Responses are drawn at the
estimates by :class:`GlmmSimulator`: new random effects, then outcomes from
the family (binomial, Poisson, gamma–Poisson for the negative binomial,
a latent logistic/normal variable cut at the cutpoints for ordinal models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..cov.labels import component_label
from ..fit.glmm import (
    fit_glmm,
    is_converged_batch,
    observed_information,
    preconditioner,
    reported_values,
)
from ..linalg.scaling import scaled_inverse
from ..models.glmm_structure import GlmmStructure
from .engine import run_batch
from .kinds import register_kind
from .responses import count_responses, take_responses
from .result import BAD_INPUT, STATUS, BatchResult, status_codes, warn_failures
from .simulate import SimTerm, covariances_from_entries, psd_sqrt

if TYPE_CHECKING:  # the result types sit above the batch layer
    from ..results.glmm_result import GlmmResult


# ---- traced ------------------------------------------------------------------------------
def _refit(data, model: GlmmStructure, shared: dict):
    """One response's fit: (estimates and diagnostics as one vector, the optimum, its arrays)."""
    arrays = {**shared["arrays"], "data": data}
    out = fit_glmm(shared["params0"], arrays, model, shared["transform"])
    entries, _, aux = reported_values(out["params"], model)
    summary = jnp.concatenate([
        out["params"][: model.p], entries, aux, jnp.stack([
            out["loglik"], out["success"].astype(float), out["steps"].astype(float),
            out["gain"],
            jnp.max(jnp.abs(out["grad"] * arrays["param_units"]), initial=0.0)])])
    return summary, out["params"], arrays


def _fit_responses(model: GlmmStructure, batched: dict, shared: dict):
    """Fit every response's row data in ``batched["data"]`` (vmapped fit_glmm)."""
    return jax.vmap(lambda data: _refit(data, model, shared)[0])(batched["data"])


def _fit_responses_with_vcov(model: GlmmStructure, batched: dict, shared: dict):
    """:func:`_fit_responses` plus each fit's Var(β̂) (from its observed information)."""
    def one(data):
        summary, params, arrays = _refit(data, model, shared)
        info = observed_information(params, arrays, model)
        return jnp.concatenate([summary, scaled_inverse(info)[: model.p, : model.p].ravel()])

    return jax.vmap(one)(batched["data"])


# ---- host ---------------------------------------------------------------------------------
def response_data(result: GlmmResult, y: np.ndarray) -> tuple[dict, np.ndarray]:
    """Row arrays of a (B, nobs) response stack and the mask of replicates that cannot be fitted."""
    glm = result.design.glm
    finite = np.all(np.isfinite(y), axis=1)
    safe = np.where(finite[:, None], y, glm.data["y"][None, :])
    data, valid = glm.family.response_rows(safe, glm.given, glm.categories)
    bad = ~finite | ~np.all(valid, axis=1)
    for key, value in data.items():  # unusable replicates are refitted on the original data
        data[key] = np.where(bad[:, None], np.asarray(glm.data[key])[None, :],
                             np.broadcast_to(value, safe.shape))
    return data, bad


def estimate_names(result: GlmmResult) -> tuple[list[str], list[str], list[str]]:
    """Column names: fixed effects, variance components (``group: label``), extra parameters."""
    design = result.design
    vc = []
    for term in design.re_terms:
        struct = term.structure
        for i, j in struct.entries():
            label = component_label(term.label, term.effect_names, struct.label, i, j)[0]
            vc.append(f"{term.label}: {label}")
    aux = [f"/{n}" for n in result.family.aux_names(result.model.n_categories)]
    return list(design.x_names), vc, aux


def fit_glmm_responses(result: GlmmResult, responses, n: int | None = None, *,
                       chunk_size: int | None = None, progress: bool | None = None,
                       devices=None, desc: str = "fits", with_vcov: bool = False) -> BatchResult:
    """Refit ``result``'s model to a (B, nobs) stack of responses (or ``n`` made on demand).

    ``with_vcov`` also gives every fit's Var(β̂) (``outputs["vcov"]``, for Wald
    tests), at the cost of its observed information.
    """
    design, model = result.design, result.model
    bad_rows: list[np.ndarray] = []

    def chunk(lo: int, hi: int) -> dict:
        y, _ = take_responses(responses, lo, hi, design.nobs, design.n_dropped)
        data, bad = response_data(result, y)
        bad_rows.append(bad)
        return {"data": data}

    responses, total = count_responses(responses, n, design.nobs, design.n_dropped)
    arrays = {k: v for k, v in result.report.arrays.items() if k != "data"}
    shared = {"arrays": arrays, "params0": np.asarray(result.params),
              "transform": _transform(result)}
    name, fn = (("glmm_responses_vcov", _fit_responses_with_vcov) if with_vcov
                else ("glmm_responses", _fit_responses))
    run = run_batch(name, fn, model, chunk, shared, total,
                    design.nobs, chunk_size=chunk_size, progress=progress, devices=devices,
                    desc=desc)
    return _result(result, run.outputs, np.concatenate(bad_rows), run.timings)


def _transform(result: GlmmResult) -> np.ndarray:
    """BFGS preconditioner from the original fit's information (identity if unusable)."""
    transform = preconditioner(result.observed_information, result.nobs,
                               result.report.arrays["param_units"])
    return np.eye(len(result.params)) if transform is None else transform


def _result(result: GlmmResult, flat: np.ndarray, bad: np.ndarray, timings) -> BatchResult:
    fixef, vc, aux = estimate_names(result)
    width = len(fixef) + len(vc) + len(aux)
    estimates = flat[:, :width].copy()
    loglik, success, steps, gain, max_grad = flat[:, width : width + 5].T
    finite = np.all(np.isfinite(estimates), axis=1) & np.isfinite(loglik)
    converged = is_converged_batch(success > 0.5, finite, max_grad, gain)
    codes = status_codes(bad, finite, converged)
    estimates[codes == BAD_INPUT] = np.nan
    columns = fixef + vc + aux
    frame = pd.DataFrame(estimates, columns=columns)
    frame["loglik"] = np.where(codes == BAD_INPUT, np.nan, loglik)
    frame["converged"] = codes == 0
    frame["code"] = codes
    frame["status"] = [STATUS[int(c)] for c in codes]
    frame["steps"] = np.where(codes == BAD_INPUT, 0, steps).astype(int)
    frame.index.name = "fit"
    warn_failures(codes)
    outputs = {"estimates": estimates, "loglik": loglik, "steps": steps,
               "beta": estimates[:, : len(fixef)]}
    if flat.shape[1] > width + 5:  # Var(β̂) of every fit
        p = len(fixef)
        outputs["vcov"] = flat[:, width + 5 :].reshape(-1, p, p)
    return BatchResult(frame, columns, fixef, outputs, timings, "glmm")


# ---- simulation ------------------------------------------------------------------------------
@dataclass
class GlmmSimulator:
    """Outcomes drawn at fixed parameter values, in the estimation sample's row order."""

    result: GlmmResult
    eta: np.ndarray  # (nobs,) Xβ + offset
    terms: list[SimTerm]
    aux: np.ndarray  # reported extra parameters (cutpoints, ln α / ln δ)

    @property
    def nobs(self) -> int:
        return self.eta.shape[0]

    @classmethod
    def from_result(cls, result: GlmmResult) -> GlmmSimulator:
        return cls.from_parameters(result)

    @classmethod
    def from_parameters(cls, result: GlmmResult, beta=None,
                        covariances: dict[int, np.ndarray] | None = None) -> GlmmSimulator:
        """At β and Σ_t per term (index in ``design.re_terms``), each the estimate when not
        given; the family's extra parameters at their estimates."""
        entries, _, aux = reported_values(jnp.asarray(result.params), result.model)
        design = result.design
        if covariances is None:
            covariances = covariances_from_entries(design, entries, range(len(design.re_terms)))
        beta = result.fixef.to_numpy() if beta is None else np.asarray(beta, dtype=float)
        terms = [SimTerm(term.codes, term.z,
                         psd_sqrt(np.atleast_2d(np.asarray(covariances[i], dtype=float))),
                         term.n_levels)
                 for i, term in enumerate(design.re_terms)]
        return cls(result, design.x @ beta + design.glm.offset, terms, np.asarray(aux))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, nobs) outcomes; consecutive calls continue one random stream."""
        eta = np.repeat(self.eta[None, :], n, axis=0)
        for term in self.terms:
            k = term.z.shape[1]
            u = rng.standard_normal((n, term.n_levels, k)) @ term.factor.T
            eta += np.einsum("nik,ik->ni", u[:, term.codes, :], term.z)
        return self._outcomes(rng, eta)

    def _outcomes(self, rng: np.random.Generator, eta: np.ndarray) -> np.ndarray:
        glm = self.result.design.glm
        return glm.family.simulate(rng, eta, glm.given, np.asarray(self.aux), glm.categories)


def term_covariances(result: GlmmResult) -> dict[int, np.ndarray]:
    """Σ̂_t of every term (keyed by index in ``design.re_terms``) at the estimates."""
    entries = reported_values(jnp.asarray(result.params), result.model)[0]
    return covariances_from_entries(result.design, entries, range(len(result.design.re_terms)))


# ---- the kind -----------------------------------------------------------------------------------
class GlmmKind:
    """Batch refits, simulation and point estimates of a GLMM fit."""

    def refit(self, result: GlmmResult, responses, n=None, *, start="default",
              chunk_size=None, progress=None, devices=None, desc="fits") -> BatchResult:
        return fit_glmm_responses(result, responses, n, chunk_size=chunk_size,
                                  progress=progress, devices=devices, desc=desc)

    def simulator(self, result: GlmmResult) -> GlmmSimulator:
        return GlmmSimulator.from_result(result)

    def point_estimates(self, result: GlmmResult) -> pd.Series:
        fixef, vc, aux = estimate_names(result)
        entries, _, aux_values = (np.asarray(v) for v in reported_values(
            jnp.asarray(result.params), result.model))
        values = np.concatenate([result.fixef.to_numpy(), entries, aux_values])
        return pd.Series(values, index=fixef + vc + aux, name="estimate")


register_kind(GlmmStructure, GlmmKind())
