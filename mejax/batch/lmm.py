"""Batch fits of a linear mixed model: many responses on one design, or many data sets.

Many responses: the design's cross-product blocks are built once on the host;
inside the compiled call each response only recomputes the y parts of the
blocks (:func:`mejax.linalg.traced_blocks.response_blocks`), then runs the same
fit as :func:`mejax.fit.optimize.fit_lmm`, vmapped. Many data sets: each data
set's blocks are built on the host and data sets with the same structure and
block shapes (shape buckets) are stacked and fitted in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import numpy as np
import pandas as pd

from ..cov.labels import component_label
from ..fit.mixed import GAIN_TOLERANCE, GRADIENT_TOLERANCE, prepare
from ..fit.optimize import fit_lmm, output_shapes
from ..fit.start import MIN_RATIO
from ..linalg.blocks import rest_columns
from ..linalg.residual_blocks import group_rows
from ..linalg.traced_blocks import response_blocks
from ..models.lmm import LmmStructure
from ..spec.design import Design
from ..spec.model import DataError
from .engine import run_batch
from .kinds import register_kind
from .responses import count_responses, take_responses
from .result import BAD_INPUT, STATUS, BatchResult, status_codes, warn_failures
from .simulate import LmmSimulator

if TYPE_CHECKING:  # the result types sit above the batch layer
    from ..results.mixed_result import MixedResult

# ---- traced ------------------------------------------------------------------------------


def _fit_responses(model: LmmStructure, batched: dict, shared: dict):
    """Fit every response of ``batched["y"]`` on the shared design (vmapped fit_lmm)."""
    arrays, rows = shared["arrays"], shared["rows"]

    def one(theta0, y):
        return fit_lmm(theta0, response_blocks(arrays, y, rows, model.layout), model)

    return jax.vmap(one)(batched["theta0"], batched["y"])


def _fit_datasets(model: LmmStructure, batched: dict, shared: dict):
    """Fit every stacked data set of ``batched["arrays"]``."""
    return jax.vmap(lambda th, arrays: fit_lmm(th, arrays, model))(
        batched["theta0"], batched["arrays"])


# ---- host: inputs ------------------------------------------------------------------------


def response_rows(design: Design, order: list[int], model: LmmStructure) -> dict:
    """Per-row arrays that :func:`response_blocks` reads to rebuild the y parts."""
    if model.residual is not None:
        index, _ = group_rows(design.residual)
        return {"r_index": index.astype(np.int32)}
    terms = [design.re_terms[i] for i in order]
    rows = {"c1": terms[0].codes.astype(np.int32), "z1": terms[0].z, "x": design.x}
    if model.layout.q2:
        cols, vals = rest_columns([t.codes for t in terms], [t.z for t in terms],
                                  list(model.layout.rest))
        rows["cols"] = cols.astype(np.int32)
        rows["zr"] = vals
    return rows


def theta_starts(design: Design, order: list[int], model: LmmStructure, theta0: np.ndarray,
                 y: np.ndarray) -> np.ndarray:
    """The starting θ of :func:`mejax.fit.start.theta_start` for every response (B, nθ).

    Random-intercept terms start at a one-way moment estimate from each
    response's OLS residuals; everything else as in ``theta0``.
    """
    starts = np.tile(theta0, (y.shape[0], 1))
    terms = [design.re_terms[i] for i in order]
    scalar = [t.z.shape[1] == 1 and bool(np.all(t.z == 1.0)) for t in terms]
    if not any(scalar):
        return starts
    import scipy.sparse

    x = design.x
    coef, *_ = np.linalg.lstsq(x, y.T, rcond=None)
    resid = y - (x @ coef).T
    sigma2 = resid.var(axis=1)
    offset = 0
    for term, is_intercept, size in zip(terms, scalar, model.theta_sizes()):
        if is_intercept:
            counts = np.bincount(term.codes, minlength=term.n_levels)
            onehot = scipy.sparse.csr_matrix(
                (np.ones(len(term.codes)), (np.arange(len(term.codes)), term.codes)),
                shape=(len(term.codes), term.n_levels))
            means = np.asarray(onehot.T @ resid.T).T / np.maximum(counts, 1)
            between = (means**2 @ counts) / counts.sum()
            noise = sigma2 * term.n_levels / counts.sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.maximum(between - noise, MIN_RATIO * sigma2) / sigma2
            scale = np.where(sigma2 > 0, np.sqrt(ratio), 1.0)
            starts[:, offset] = scale * term.structure.theta_init()[0]
        offset += size
    return starts


# ---- host: outputs -----------------------------------------------------------------------


def decode(flat: np.ndarray, model: LmmStructure) -> dict[str, np.ndarray]:
    """Per-fit arrays from the stacked flat outputs of :func:`fit_lmm` (B, width)."""
    out, start = {}, 0
    for name, shape in output_shapes(model).items():
        size = int(np.prod(shape))
        out[name] = flat[:, start : start + size].reshape((flat.shape[0],) + shape)
        start += size
    return out


def converged_flags(out: dict) -> tuple[np.ndarray, np.ndarray]:
    """(finite, converged) per fit, by the rule of :func:`mejax.fit.mixed.is_converged`."""
    grad = out["grad"].reshape(len(out["deviance"]), -1)
    finite = (np.all(np.isfinite(grad), axis=1) & np.isfinite(out["deviance"])
              & np.all(np.isfinite(out["beta"]), axis=1))
    with np.errstate(invalid="ignore"):
        flat = (np.max(np.abs(grad), axis=1, initial=0.0) < GRADIENT_TOLERANCE) | (
            out["gain"] < GAIN_TOLERANCE)
    return finite, finite & flat & (out["success"] > 0.5)


def varcomp_columns(design: Design, order: list[int], model: LmmStructure
                    ) -> tuple[list[str], np.ndarray]:
    """Names of the variance components (as ``varcomp`` labels them) and their entry positions.

    Names are ``"<group>: <label>"`` (``"Subject: var(Days)"``), ``"var(Residual)"``,
    and ``"Residual: <parameter>"`` under a residual structure.
    """
    by_term: dict[int, list[tuple[str, int]]] = {}
    position = 0
    for term_i in order:
        term = design.re_terms[term_i]
        struct = term.structure
        names = []
        for i, j in struct.entries():
            label = component_label(term.label, term.effect_names, struct.label, i, j)[0]
            names.append((f"{term.label}: {label}", position))
            position += 1
        by_term[term_i] = names
    ordered = [c for t in range(len(design.re_terms)) for c in by_term.get(t, [])]
    residual = model.residual
    if residual is None:
        ordered.append(("var(Residual)", position))
    else:
        params = residual.parameter_names()
        for n in range(model.n_entries() - position):
            name = params[n % len(params)][0]
            by = residual.by_labels[n // len(params)] if residual.n_by > 1 else None
            ordered.append((f"Residual: {name}" if by is None else f"Residual: {by}: {name}",
                            position + n))
    return [name for name, _ in ordered], np.array([p for _, p in ordered], dtype=int)


def fits_frame(design: Design, order: list[int], model: LmmStructure, out: dict,
               codes: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """One row per fit: estimates, loglik, converged, code, status, steps."""
    vc_names, perm = varcomp_columns(design, order, model)
    estimates = np.column_stack([out["beta"], out["entries"][:, perm]])
    loglik = -0.5 * out["deviance"]
    bad = codes == BAD_INPUT
    estimates[bad] = np.nan
    loglik = np.where(bad, np.nan, loglik)
    columns = list(design.x_names) + vc_names
    frame = pd.DataFrame(estimates, columns=columns)
    frame["loglik"] = loglik
    frame["converged"] = codes == 0
    frame["code"] = codes
    frame["status"] = [STATUS[int(c)] for c in codes]
    frame["steps"] = np.where(bad, 0, out["steps"]).astype(int)
    frame.index.name = "fit"
    return frame, columns


def _result(design, order, model, flat, bad, timings) -> BatchResult:
    out = decode(flat, model)
    finite, converged = converged_flags(out)
    codes = status_codes(bad, finite, converged)
    frame, columns = fits_frame(design, order, model, out, codes)
    warn_failures(codes)
    return BatchResult(frame, columns, list(design.x_names), out, timings, "mixed")


# ---- public ------------------------------------------------------------------------------


def fit_responses(design: Design, reml: bool,
                  responses: np.ndarray | Callable[[int, int], np.ndarray],
                  n: int | None = None, *, start: np.ndarray | None = None,
                  chunk_size: int | None = None, progress: bool | None = None,
                  devices=None, desc: str = "fits") -> BatchResult:
    """Fit the model of ``design`` to every response in a (B, nobs) stack, in compiled chunks.

    ``responses`` may instead be a function ``(start, stop) -> array`` called in
    order for each chunk, with ``n`` the number of fits (simulation without
    holding every response). ``start``: one θ for all fits; default the
    per-response moment start that :func:`mejax.mixed` uses.
    """
    order, model, arrays, theta0 = prepare(design, reml)
    rows = response_rows(design, order, model)
    bad_rows: list[np.ndarray] = []

    def chunk(lo: int, hi: int) -> dict:
        y, bad = take_responses(responses, lo, hi, design.nobs, design.n_dropped)
        bad_rows.append(bad)
        y[bad] = design.y  # a harmless stand-in; the fit is reported as non-finite input
        if start is None:
            th = theta_starts(design, order, model, theta0, y)
        else:
            th = np.tile(np.asarray(start, dtype=float), (y.shape[0], 1))
        return {"theta0": th, "y": y}

    responses, total = count_responses(responses, n, design.nobs, design.n_dropped)
    run = run_batch("lmm_responses", _fit_responses, model, chunk,
                    {"arrays": arrays, "rows": rows}, total, design.nobs,
                    chunk_size=chunk_size, progress=progress, devices=devices, desc=desc)
    return _result(design, order, model, run.outputs, np.concatenate(bad_rows), run.timings)


def fit_designs(designs: list[Design], reml: bool, *, chunk_size: int | None = None,
                progress: bool | None = None, devices=None) -> BatchResult:
    """Fit one model structure to many data sets (their designs), grouped by block shapes.

    Data sets whose blocks have the same static structure and shapes share one
    compiled call; results come back in the order of ``designs``.
    """
    if not designs:
        raise DataError("no data sets to fit")
    prepared = [prepare(d, reml) for d in designs]
    names = [list(d.x_names) + varcomp_columns(d, p[0], p[1])[0]
             for d, p in zip(designs, prepared)]
    for i, columns in enumerate(names):
        if sorted(columns) != sorted(names[0]):
            raise DataError(
                f"data set {i} gives estimates {columns}, data set 0 gives {names[0]}: "
                "every data set must have the same fixed effects and variance components "
                "(same factor levels)")
    groups: dict[tuple, list[int]] = {}
    for i, (_, model, arrays, theta0) in enumerate(prepared):
        shapes = tuple(sorted((k, np.shape(v)) for k, v in arrays.items()))
        groups.setdefault((model, shapes, theta0.shape), []).append(i)
    frames: list[pd.DataFrame] = [None] * len(designs)  # type: ignore[list-item]
    outputs: list[dict] = [None] * len(designs)  # type: ignore[list-item]
    timings: dict[str, float] = {"groups": float(len(groups))}
    for (model, _, _), members in groups.items():
        batched = {
            "theta0": np.stack([prepared[i][3] for i in members]),
            "arrays": {k: np.stack([np.asarray(prepared[i][2][k]) for i in members])
                       for k in prepared[members[0]][2]},
        }
        run = run_batch("lmm_datasets", _fit_datasets, model, batched, {}, len(members),
                        max(designs[i].nobs for i in members), chunk_size=chunk_size,
                        progress=progress, devices=devices, desc="data sets")
        for key, value in run.timings.items():
            timings[key] = timings.get(key, 0.0) + value
        out = decode(run.outputs, model)
        finite, converged = converged_flags(out)
        codes = status_codes(np.zeros(len(members), bool), finite, converged)
        for j, i in enumerate(members):
            one = {k: v[j : j + 1] for k, v in out.items()}
            frame, _ = fits_frame(designs[i], prepared[i][0], model, one, codes[j : j + 1])
            frames[i] = frame[names[0] + list(frame.columns[len(names[0]):])]
            outputs[i] = one
    frame = pd.concat(frames, ignore_index=True)
    frame.index.name = "fit"
    warn_failures(frame["code"].to_numpy())
    # per-fit arrays (entries in each data set's own block order)
    stacked = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    return BatchResult(frame, names[0], list(designs[0].x_names), stacked, timings, "mixed")


# ---- the kind for MixedResult ------------------------------------------------------------


class LmmKind:
    """Batch refits, simulation and point estimates of a linear mixed model fit."""

    def _check(self, result) -> None:
        if not isinstance(result.model, LmmStructure):
            raise TypeError(f"batch fitting is not available for {type(result).__name__} yet")

    def refit(self, result: MixedResult, responses, n=None, *, start="default",
              chunk_size=None, progress=None, devices=None, desc="fits") -> BatchResult:
        self._check(result)
        theta = result.report.outputs["theta"] if start == "estimate" else None
        return fit_responses(result.design, result.reml, responses, n, start=theta,
                             chunk_size=chunk_size, progress=progress, devices=devices,
                             desc=desc)

    def simulator(self, result: MixedResult):
        self._check(result)
        return LmmSimulator.from_result(result)

    def point_estimates(self, result: MixedResult) -> pd.Series:
        self._check(result)
        report = result.report
        names, perm = varcomp_columns(result.design, report.order, report.model)
        values = np.concatenate([report.beta, np.asarray(report.entries())[perm]])
        return pd.Series(values, index=list(result.design.x_names) + names, name="estimate")


register_kind(LmmStructure, LmmKind())
