"""``mejax.fit_batch``: the public entry point of batch fitting."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ..spec.design import build_design
from ..spec.formula import parse_formula
from ..spec.model import DataError, SpecError
from ..spec.residuals import as_residuals
from ..spec.stata import parse_stata
from .kinds import kind_for
from .lmm import fit_designs, fit_responses
from .result import BatchResult


def fit_batch(model, responses=None, *, data=None, reml: bool = False, covariance=None,
              residuals=None, start: str = "default", chunk_size: int | None = None,
              progress: bool | None = None, devices=None) -> BatchResult:
    """Fit one model structure many times in compiled, vmapped calls.

    - ``fit_batch(fit, Y)``: refit a fitted model (e.g. from :func:`mejax.mixed`)
      to every row of ``Y`` (B × nobs, rows in the estimation sample's order);
      ``start="estimate"`` starts every fit at ``fit``'s estimates.
    - ``fit_batch("y ~ x + (1 | g)", Y, data=df)``: the design from ``df``, B responses.
    - ``fit_batch("y ~ x + (1 | g)", data=[df1, df2, ...])``: many data sets of one
      structure (same fixed effects and random-effect terms); data sets whose
      blocks have the same shapes (shape buckets) share one compiled call.

    A formula may also be a Stata command line (``"mixed y x || g:"``), which then
    carries its own options. Returns a :class:`BatchResult`: ``.frame`` has one
    row per fit — fixed effects, variance components (variances and covariances,
    residual variance), loglik, converged, code, status, steps. A fit that fails
    (non-finite input, no convergence) gets its code; the others go on.

    Large batches run in chunks (``chunk_size`` fits per call; by default 128 on
    CPU, 1024 elsewhere, fewer for very long responses) with a progress bar when a
    run takes over a second (``progress=True/False`` to force). With several
    devices (``devices=None`` uses all of JAX's default backend) each chunk is
    split over them.
    """
    options = {"chunk_size": chunk_size, "progress": progress, "devices": devices}
    if start not in ("default", "estimate"):
        raise ValueError(f"start must be 'default' or 'estimate', got {start!r}")
    if not isinstance(model, str):
        if responses is None:
            raise DataError("give the responses to refit: fit_batch(fit, Y)")
        return kind_for(model).refit(model, responses, start=start, **options)
    if start != "default":
        raise ValueError("start='estimate' needs a fitted model, not a formula")
    if isinstance(data, (list, tuple)):
        if responses is not None:
            raise SpecError("give either responses or a list of data sets, not both")
        designs = []
        for i, frame in enumerate(data):
            try:
                designs.append(_design(model, frame, covariance, residuals))
            except (DataError, SpecError) as err:
                raise type(err)(f"data set {i}: {err}") from None
        return fit_designs(designs, _reml(model, reml), **options)
    if data is None or responses is None:
        raise DataError("with a formula, give data= and responses, or data=[df1, df2, ...]")
    design = _design(model, data, covariance, residuals)
    return fit_responses(design, _reml(model, reml), responses, **options)


def _spec(model: str):
    """The ModelSpec of a formula or a Stata ``mixed`` command line."""
    spec = parse_stata(model) if "~" not in model else parse_formula(model)
    if spec.family is not None:
        raise SpecError("batch fits of a GLMM start from its fit: use mejax.fit_batch "
                        "(which fits the me* command or formula first) or fit_batch(fit, Y)")
    return spec


def _reml(model: str, reml: bool) -> bool:
    spec = _spec(model)
    return bool(spec.options.get("reml", False)) if spec.style == "stata" else bool(reml)


def _design(model: str, data: pd.DataFrame, covariance, residuals):
    spec = _spec(model)
    res = as_residuals(residuals)
    if res is not None:
        spec = replace(spec, residuals=res)
    return build_design(spec, data, covariance)
