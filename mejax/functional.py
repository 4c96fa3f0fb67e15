"""The linear mixed model as pure JAX functions: log likelihood and a differentiable fit.

GLMMs have the same pair, ``glmm_loglik`` and ``glmm_fit`` (:mod:`mejax.glmm_functional`);
nonlinear models (``menl``) their marginal log likelihood, ``menl_loglik``
(:mod:`mejax.menl_functional`).

For use inside a larger JAX program (``jax.jit``, ``jax.grad``, ``jax.vmap``)::

    import mejax.functional as mf

    data = mf.lmm_data("Reaction ~ Days + (Days | Subject)", df)    # host: once
    data = mf.lmm_data("y ~ x + (1 | id)", panel, residuals="ar 1, t(time)")  # as mixed's
    est = mf.fit(data)                       # LmmFit: theta, beta, sigma2, loglik, ...
    mf.loglik(mf.params(est), data)          # log likelihood at any parameters

    # derivatives of the estimates with respect to the data, at the optimum
    def slope(y):
        return mf.fit(data.replace(y=y)).beta[1]
    jax.grad(slope)(data.y)                  # d slope / d y_i, shape (n,)

``LmmData`` is a pytree (an equinox Module) of the model's row data — ``x``
(n, p), ``y`` (n,), ``weights`` (n,), ``z1``/``zr`` (random-effect values) —
plus integer index arrays and the static model structure. Any of the float
arrays can be traced and differentiated; to differentiate with respect to the
whole pytree use ``equinox.filter_grad`` (the index arrays are integers).

A residual structure (``residuals=`` as in :func:`mejax.mixed`) adds its
parameters η after the random-effect terms' in ``theta``, as ``mixed`` orders
them; the rows are whitened within each residual group by the same traced code
``mixed`` runs (:func:`mejax.linalg.residual_blocks.whitened_blocks`). With
weights, V_i = σ²W_i^{-1/2}R̃_iW_i^{-1/2}. A near-singular R̃ (a correlation
at ±1), which ``mixed`` reports, is not flagged here.

Observation weights w_i give residual variances σ²/w_i (lme4's ``weights``).
The fit minimises the profiled deviance with BFGS; its derivatives come from
the implicit function theorem at the optimum (``optimistix.ImplicitAdjoint``:
∂θ̂/∂data = −H⁻¹ ∂²f/∂θ∂data), never from unrolled optimiser steps. The
estimates β̂(θ̂), σ̂²(θ̂) are explicit functions of θ̂ and the data. Near a
boundary (a variance at zero) the Hessian in θ is singular and the derivatives
of θ̂ are not defined.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .fit.gain_bfgs import GainBFGS
from .fit.mixed import block_terms
from .fit.optimize import ATOL, RTOL, STRUCTURE, expected_gain
from .linalg.residual_blocks import (
    grouped_rows,
    residual_index_arrays,
    residual_structure,
    typical_distance,
)
from .linalg.traced_blocks import rest_values, row_structure, row_sums
from .models.lmm import LOG_2PI, LmmStructure, estimates, factorize, lambdas_from_theta
from .models.lmm import profiled_deviance as deviance
from .spec.design import Design, build_design
from .spec.formula import parse_formula
from .spec.model import DataError
from .spec.residuals import as_residuals


class LmmData(eqx.Module):
    """Row data, index arrays and static structure of one linear mixed model.

    ``residual`` holds a residual structure's index arrays (empty without one) and
    ``residual_start`` its parameters' starting values.
    """

    x: jax.Array
    y: jax.Array
    weights: jax.Array
    z1: jax.Array
    zr: jax.Array
    rows: dict
    index: dict
    residual: dict
    structure: LmmStructure = eqx.field(static=True)
    n_blocks: tuple = eqx.field(static=True)
    x_names: tuple = eqx.field(static=True)
    residual_start: tuple = eqx.field(static=True, default=())

    def replace(self, **values) -> LmmData:
        """A copy with some of ``x``, ``y``, ``weights``, ``z1``, ``zr`` replaced (traceable)."""
        names = tuple(values)
        return eqx.tree_at(lambda d: tuple(getattr(d, k) for k in names), self,
                           tuple(values[k] for k in names))

    @property
    def nobs(self) -> int:
        return self.y.shape[0]


class LmmFit(NamedTuple):
    """Estimates of :func:`fit`; every field is an array (traceable)."""

    theta: jax.Array
    beta: jax.Array
    sigma2: jax.Array
    loglik: jax.Array
    vcov: jax.Array
    converged: jax.Array
    steps: jax.Array


def from_design(design: Design, reml: bool = False, weights=None) -> LmmData:
    """:class:`LmmData` of a design built by :func:`mejax.spec.design.build_design`."""
    _, codes, zs, n_levels, structures = block_terms(design)
    layout, rows, index = row_structure(codes, zs, n_levels, design.x.shape[1])
    n_blocks = tuple(index[f"b21_level1_{t}"].shape[0] for t in range(1, len(layout.rest) + 1))
    zr = rest_values(zs) if layout.q2 else np.zeros((design.nobs, 0))
    w = np.ones(design.nobs) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (design.nobs,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise DataError(f"weights must be {design.nobs} positive finite values")
    res, residual, arrays, start = design.residual, None, {}, ()
    if res is not None:
        residual = residual_structure(res)
        arrays = residual_index_arrays(res, codes, zs, design.x.shape[1], layout, n_blocks)
        start = tuple(float(v) for v in residual.params_init(typical_distance(res)))
    structure = LmmStructure(layout, structures, bool(reml), residual)
    return LmmData(jnp.asarray(design.x), jnp.asarray(design.y), jnp.asarray(w),
                   jnp.asarray(zs[0]), jnp.asarray(zr),
                   {k: jnp.asarray(v) for k, v in rows.items()},
                   {k: jnp.asarray(v) for k, v in index.items()},
                   {k: jnp.asarray(v) for k, v in arrays.items()},
                   structure, n_blocks, tuple(design.x_names), start)


def lmm_data(formula: str, data, *, reml: bool = False, covariance=None, residuals=None,
             weights=None) -> LmmData:
    """:class:`LmmData` from an lme4-style formula and a DataFrame (host side, once).

    ``residuals``: a residual structure, as :func:`mejax.mixed` takes it
    (``"ar 1, t(time)"``, a :class:`mejax.Residuals` or a dict). ``weights``: a
    column name or an array of positive observation weights (rows in the
    estimation sample's order).
    """
    spec = parse_formula(formula)
    structure = as_residuals(residuals)
    if structure is not None:
        spec = replace(spec, residuals=structure)
    design = build_design(spec, data, covariance)
    if isinstance(weights, str):
        if weights not in data.columns:
            raise DataError(f"weights column {weights!r} not found in data")
        if design.n_dropped:
            raise DataError("weights= by column name needs data without missing values")
        weights = data[weights].to_numpy(dtype=float)
    return from_design(design, reml, weights)


def blocks(data: LmmData) -> dict:
    """The cross-product blocks of the weighted [Z X y] (traced, differentiable in the data).

    Under a residual structure, the rows W^{1/2}[Z X y] grouped for whitening
    (``r_data``); the factorization whitens and sums them.
    """
    xy = jnp.concatenate([data.x, data.y[:, None]], axis=1)
    nobs = jnp.asarray(data.y.shape[0], xy.dtype)
    if data.structure.residual is not None:
        rows = jnp.concatenate([data.z1, data.zr, xy], axis=1) * jnp.sqrt(data.weights)[:, None]
        return {**data.index, **data.residual, "r_data": grouped_rows(rows, data.residual),
                "nobs": nobs}
    sums = row_sums(data.z1, data.zr, xy, data.weights, data.rows, data.structure.layout,
                    data.n_blocks)
    return {**sums, **data.index, "nobs": nobs}


def _log_weights(data: LmmData):
    return jnp.sum(jnp.log(data.weights))


def profiled_deviance(theta, data: LmmData):
    """−2 × (restricted) log likelihood profiled over β and σ², at relative factors θ."""
    return deviance(theta, blocks(data), data.structure) - _log_weights(data)


def loglik(params: dict, data: LmmData):
    """Log likelihood at ``params``: ``theta`` (relative Cholesky factors, then a residual
    structure's parameters), ``beta``, ``log_sigma``.

    ML: the marginal log likelihood of y. REML (``reml=True`` in the data): the
    restricted log likelihood, which does not depend on β.
    """
    model = data.structure
    theta, log_sigma = params["theta"], params["log_sigma"]
    log_det, lxx = factorize(theta, blocks(data), model)
    p = model.layout.p
    n = data.y.shape[0]
    rx, lx, r2 = lxx[:p, :p], lxx[p, :p], lxx[p, p] ** 2
    s2 = jnp.exp(2.0 * log_sigma)
    if model.reml:
        log_det = log_det + 2.0 * jnp.sum(jnp.log(jnp.diagonal(rx)))
        dof, rss = n - p, r2
    else:
        dof, rss = n, r2 + jnp.sum((rx.T @ params["beta"] - lx) ** 2)
    return -0.5 * (log_det + dof * (LOG_2PI + 2.0 * log_sigma) + rss / s2) + 0.5 * _log_weights(
        data)


def initial_theta(data: LmmData) -> jax.Array:
    """lme4's start: every relative factor Λ_t = I; then a residual structure's, as mixed's."""
    parts = [jnp.asarray(s.theta_init(), data.y.dtype) for s in data.structure.structures]
    return jnp.concatenate(parts + [jnp.asarray(data.residual_start, data.y.dtype)])


def fit(data: LmmData, theta0=None, *, max_steps: int = 1000) -> LmmFit:
    """ML/REML estimates, differentiable with respect to the data by implicit differentiation.

    Pure and traceable: use it inside ``jax.jit``, ``jax.grad``, ``jax.vmap``.
    """
    model = data.structure
    arrays = blocks(data)
    theta0 = initial_theta(data) if theta0 is None else jnp.asarray(theta0)
    sol = optx.minimise(_deviance_per_observation, GainBFGS(rtol=RTOL, atol=ATOL), theta0,
                        args={**arrays, STRUCTURE: model}, max_steps=max_steps, throw=False,
                        adjoint=optx.ImplicitAdjoint())
    theta = sol.value
    est = estimates(theta, arrays, model)
    gain = expected_gain(sol.state, arrays["nobs"])
    converged = (sol.result == optx.RESULTS.successful) & jnp.isfinite(est["deviance"])
    return LmmFit(theta, est["beta"], est["sigma2"], -0.5 * est["deviance"] + 0.5 * _log_weights(
        data), est["vcov"], converged & (gain < 1e-5), sol.stats["num_steps"])


def _deviance_per_observation(theta, args):
    """The profiled deviance per observation; one function (the static structure in
    ``args``), so optimistix compiles it once per model, not at every call."""
    arrays = {k: v for k, v in args.items() if k != STRUCTURE}
    return deviance(theta, arrays, args[STRUCTURE]) / arrays["nobs"]


def params(estimates: LmmFit) -> dict:
    """The parameters of :func:`loglik` at a fit's estimates."""
    return {"theta": estimates.theta, "beta": estimates.beta,
            "log_sigma": 0.5 * jnp.log(estimates.sigma2)}


def covariances(theta, sigma2, data: LmmData) -> list:
    """Σ_t = σ²Λ_tΛ_t' of every random-effect term (in the model's block order)."""
    return [sigma2 * lam @ lam.T for lam in lambdas_from_theta(theta, data.structure)]


# the GLMM counterparts (mejax.glmm_functional)
from .glmm_functional import (  # noqa: E402, F401
    GlmmData,
    fit_data,
    glmm_data,
    glmm_fit,
    glmm_loglik,
)

# the nonlinear (menl) counterpart (mejax.menl_functional)
from .menl_functional import MenlData, menl_data, menl_loglik  # noqa: E402, F401
