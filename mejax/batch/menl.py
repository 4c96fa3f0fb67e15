"""Batch refits, simulation and point estimates of a nonlinear mixed model (``menl``).

Refits run :func:`mejax.fit.lindstrom_bates.fit_lindstrom_bates_batch` (one compiled
call per chunk, the fits one after another, each from the original estimates) and
report what the other kinds report: fixed effects, the variance components as
``varcomp`` lists them, loglik and a status code per fit. Responses are drawn at the
estimates by :class:`MenlSimulator`: new random effects at every level, the mean
evaluated at them, then residuals with the fitted residual correlation (R̃ factored once,
as :mod:`mejax.batch.simulate` does for ``mixed``) and variance function (at the drawn
conditional mean, as the model defines it).

The chunks are compiled by ``jax.jit`` in the process, not exported to disk as the
linear kinds' are: a mean written as a Python function has no stable description to
key a stored program on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import SpecError
from ..fit.lindstrom_bates import (
    NonlinearData,
    effects,
    fit_lindstrom_bates_batch,
    residual_conditioning,
    variance_parameters,
)
from ..fit.menl import NonlinearDesign
from ..models.lmm import residual_eta
from ..models.nonlinear import NonlinearStructure, mean
from ..text import progress_bar
from .engine import chunk_size_for
from .kinds import register_kind
from .responses import count_responses, take_responses
from .result import BAD_INPUT, STATUS, BatchResult, status_codes, warn_failures
from .simulate import correlate, residual_factors

if TYPE_CHECKING:  # the result type sits above the batch layer
    from ..results.menl_result import MenlResult


def variance_rows(design: NonlinearDesign) -> list[tuple]:
    """(group, var1, var2, interval scale, by-label) of every reported variance parameter,
    in the order of :func:`~mejax.fit.lindstrom_bates.variance_parameters`."""
    model = design.model
    rows = []
    for level, names, struct in zip(design.levels, model.effects, model.structures):
        for i, j in struct.entries():
            rows.append((level.name, names[i], None if i == j else names[j],
                         "log" if i == j else "identity", None))
    residual = model.residual
    if residual is not None:  # by(): every by-level's parameters, level after level
        rows += [("Residual", name, None, scale, by if residual.n_by > 1 else None)
                 for by in residual.by_labels or ("",)
                 for name, scale in residual.parameter_names()]
    else:
        rows.append(("Residual", "sigma2" if model.variance.n_params() else None, None,
                     "log", None))
    rows += [("Residual", name, None, scale, None) for name, scale in
             zip(model.variance.names(), model.variance.interval_scales())]
    return rows


def variance_columns(design: NonlinearDesign) -> list[str]:
    """Batch-frame names of the variance parameters: ``Tree: var(U)``, ``sigma2``, ..."""
    out = []
    for group, v1, v2, _, by in variance_rows(design):
        if group != "Residual":
            out.append(f"{group}: var({v1})" if v2 is None else f"{group}: cov({v1},{v2})")
        elif v1 is None:
            out.append("sigma2")
        else:
            out.append(f"Residual: {v1}" if by is None else f"Residual: {by}: {v1}")
    return out


def reported_variances(theta, vpar, sigma2, model: NonlinearStructure) -> np.ndarray:
    """The variance parameters as ``varcomp`` reports them, from the fit's own scale."""
    return np.asarray(variance_parameters(_parameters(jnp.asarray(theta), jnp.asarray(vpar),
                                                      jnp.asarray(sigma2)), model))


def _parameters(theta, vpar, sigma2):
    return jnp.concatenate([theta, vpar, 0.5 * jnp.log(sigma2)[None]])


@partial(jax.jit, static_argnums=3)
def _reported(theta, vpar, sigma2, model: NonlinearStructure):
    """Reported variance parameters of every fit (rows)."""
    return jax.vmap(lambda t, v, s: variance_parameters(_parameters(t, v, s), model))(
        theta, vpar, sigma2)


# ---- refits ---------------------------------------------------------------------------------
def _check_linearization(result: MenlResult) -> None:
    if result.method_name != "linearization":
        raise SpecError(f"batch refits and the bootstrap of menl use Lindstrom-Bates; this "
                        f"fit used intmethod({result.method_name}): refit it without "
                        "intmethod() to bootstrap, or draw with fit.simulate() and fit each "
                        "response yourself")


def fit_menl_responses(result: MenlResult, responses, n: int | None = None, *,
                       chunk_size: int | None = None, progress: bool | None = None,
                       desc: str = "fits") -> BatchResult:
    """Refit ``result``'s model to a (B, nobs) stack of responses (or ``n`` made on demand),
    every fit from ``result``'s estimates, in compiled chunks."""
    _check_linearization(result)
    design, model, fit = result.design, result.design.model, result._fit
    responses, total = count_responses(responses, n, design.nobs, design.n_dropped)
    size = chunk_size_for(total, design.nobs, chunk_size)
    start = (jnp.asarray(fit.beta), tuple(jnp.zeros_like(jnp.asarray(u)) for u in fit.us),
             jnp.asarray(fit.theta), jnp.asarray(fit.vpar))
    pieces, bad_rows = [], []
    n_chunks = -(-total // size)
    show = progress if progress is not None else (n_chunks > 1)
    with progress_bar(total=total, desc=desc, unit="fit", disable=not show,
                      delay=0.0 if progress else 1.0) as bar:
        for lo in range(0, total, size):
            hi = min(lo + size, total)
            y, bad = take_responses(responses, lo, hi, design.nobs, design.n_dropped)
            y = np.where(bad[:, None], design.y[None, :], y)  # refitted on the data, dropped
            padded = np.concatenate([y, np.repeat(y[:1], size - len(y), axis=0)])
            out = fit_lindstrom_bates_batch(*start, design.arrays, jnp.asarray(padded), model, 1)
            count = hi - lo
            pieces.append(jax.tree.map(lambda a, k=count: np.asarray(a)[:k], out))
            bad_rows.append(bad)
            bar.update(hi - lo)
    out = jax.tree.map(lambda *a: np.concatenate(a), *pieces)
    return _result(result, out, np.concatenate(bad_rows))


def _result(result: MenlResult, out, bad: np.ndarray) -> BatchResult:
    design, model = result.design, result.design.model
    fixef, vc = list(model.fixed), variance_columns(design)
    variances = np.asarray(_reported(jnp.asarray(out.theta), jnp.asarray(out.vpar),
                                     jnp.asarray(out.sigma2), model))
    estimates = np.concatenate([out.beta, variances], axis=1)
    finite = np.all(np.isfinite(estimates), axis=1) & np.isfinite(out.loglik)
    converged = np.asarray(out.converged, dtype=bool)
    if model.residual is not None:  # a near-singular residual covariance is no optimum
        converged &= np.array([not residual_conditioning(t, design.arrays, model)
                               for t in out.theta], dtype=bool)
    codes = status_codes(bad, finite, converged)
    estimates[codes == BAD_INPUT] = np.nan
    frame = pd.DataFrame(estimates, columns=fixef + vc)
    frame["loglik"] = np.where(codes == BAD_INPUT, np.nan, out.loglik)
    frame["converged"] = codes == 0
    frame["code"] = codes
    frame["status"] = [STATUS[int(c)] for c in codes]
    frame["steps"] = np.where(codes == BAD_INPUT, 0, out.iterations).astype(int)
    frame.index.name = "fit"
    warn_failures(codes)
    outputs = {"estimates": estimates, "loglik": np.asarray(out.loglik),
               "beta": np.asarray(out.beta), "vcov": np.asarray(out.vcov),
               "theta": np.asarray(out.theta), "vpar": np.asarray(out.vpar),
               "sigma2": np.asarray(out.sigma2), "steps": np.asarray(out.iterations)}
    return BatchResult(frame, fixef + vc, fixef, outputs, {}, "menl")


# ---- simulation -------------------------------------------------------------------------------
@partial(jax.jit, static_argnums=5)
def _draw(beta, theta, vpar, sigma, normals, model: NonlinearStructure,
          arrays: NonlinearData, residuals):
    """Responses from rows of standard normals for every level's spherical effects u_l
    (b_l = σ u_l Λ_l') and the (already R̃-correlated) residual normals r:
    f(β, b) + σ g_i r_i, g at the drawn conditional mean (traced, pure)."""
    def one(z, r):
        us, position = [], 0
        for n_groups, names in zip(model.n_groups, model.effects):
            size = n_groups * len(names)
            us.append(z[position:position + size].reshape(n_groups, len(names)))
            position += size
        bs = [sigma * b for b in effects(us, theta, model)]
        fitted = mean(beta, bs, arrays.codes, arrays.data, model)
        v = model.variance.row_covariate(fitted, arrays.covariate)
        return fitted + sigma * jnp.exp(model.variance.log_sd(vpar, v)) * r

    return jax.vmap(one)(normals, residuals)


@dataclass
class MenlSimulator:
    """Responses drawn at a menl fit's estimates, in the estimation sample's row order."""

    design: NonlinearDesign
    beta: np.ndarray
    theta: np.ndarray
    vpar: np.ndarray
    sigma: float
    residual: tuple | None = None  # (index, mask, Cholesky factors) of the residual groups

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_normals(self) -> int:
        model = self.design.model
        return sum(g * len(names) for g, names in zip(model.n_groups, model.effects)) + \
            self.nobs

    @classmethod
    def from_result(cls, result: MenlResult) -> MenlSimulator:
        fit = result._fit
        return cls.from_parameters(result.design, fit.beta, fit.theta, fit.vpar, fit.sigma2)

    @classmethod
    def from_parameters(cls, design: NonlinearDesign, beta, theta, vpar,
                        sigma2: float) -> MenlSimulator:
        """At given parameters on the fit's own scale (β, θ with the residual structure's
        η after the levels' relative factors, the variance function's δ, σ²)."""
        model = design.model
        theta = np.asarray(theta, dtype=float)
        residual = None if model.residual is None else residual_factors(
            design.residual_design, model.residual, residual_eta(theta, model))
        return cls(design, np.asarray(beta, dtype=float), theta,
                   np.asarray(vpar, dtype=float), float(np.sqrt(sigma2)), residual)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, nobs) responses; consecutive calls continue one random stream (one row of
        normals per draw, so chunked draws equal one draw of them all)."""
        normals = rng.standard_normal((n, self.n_normals))
        effects_part, white = normals[:, : -self.nobs], normals[:, -self.nobs:]
        if self.residual is not None:
            white = correlate(white, *self.residual)
        return np.array(_draw(jnp.asarray(self.beta), jnp.asarray(self.theta),
                                jnp.asarray(self.vpar), self.sigma, jnp.asarray(effects_part),
                                self.design.model, self.design.arrays, jnp.asarray(white)))


# ---- the kind ---------------------------------------------------------------------------------
class MenlKind:
    """Batch refits, simulation and point estimates of a menl fit."""

    def refit(self, result: MenlResult, responses, n=None, *, start="default",
              chunk_size=None, progress=None, devices=None, desc="fits") -> BatchResult:
        """Every fit starts at ``result``'s estimates (``start`` is accepted for the
        shared interface); ``devices`` is not used: the chunks run on the default device."""
        return fit_menl_responses(result, responses, n, chunk_size=chunk_size,
                                  progress=progress, desc=desc)

    def simulator(self, result: MenlResult) -> MenlSimulator:
        return MenlSimulator.from_result(result)

    def point_estimates(self, result: MenlResult) -> pd.Series:
        fit = result._fit
        values = np.concatenate([np.asarray(fit.beta), reported_variances(
            fit.theta, fit.vpar, fit.sigma2, result.design.model)])
        return pd.Series(values, index=list(result.design.model.fixed) +
                         variance_columns(result.design), name="estimate")


register_kind(NonlinearStructure, MenlKind())
