"""``mejax.fit_batch``: batch fits of every model, GLMMs from a formula or command too.

Linear models go straight to :func:`mejax.batch.api.fit_batch`, which builds
the design alone. A GLMM's refits start at its estimates on the observed data
and are preconditioned by its information there, so a GLMM formula (with
``family=``) or an me* command line is first fitted to ``data`` — the response
column of ``data``, or the first response when ``data`` has none — and then
refitted to every response.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .api import meglm, stata
from .batch import api as batch_api
from .batch.result import BatchResult
from .designs import cbind_parts
from .spec.formula import parse_formula
from .spec.model import DataError, SpecError
from .spec.stata import parse_stata


def fit_batch(model, responses=None, *, data=None, family: str | None = None,
              link: str | None = None, reml: bool = False, covariance=None, residuals=None,
              start: str = "default", chunk_size: int | None = None,
              progress: bool | None = None, devices=None, **glmm_options) -> BatchResult:
    """Fit one model structure many times in compiled, vmapped calls.

    As :func:`mejax.batch.api.fit_batch` (a fitted model, a formula or a
    ``mixed`` command with ``responses`` and ``data=``, or many data sets),
    and GLMMs from a formula with ``family=`` (``link=``, ``method=``,
    ``nodes=``, ``trials=``, ... as :func:`mejax.meglm`) or from an me*
    command line (``"melogit y x || g:"``) with ``responses`` and one ``data``.
    """
    options = {"chunk_size": chunk_size, "progress": progress, "devices": devices}
    if not (isinstance(model, str) and _is_glmm(model, family)):
        if glmm_options or link is not None:
            raise SpecError(f"{', '.join(sorted(glmm_options) or ['link'])}: options of "
                            "GLMMs; give family= with a formula, or an me* command")
        return batch_api.fit_batch(model, responses, data=data, reml=reml,
                                   covariance=covariance, residuals=residuals, start=start,
                                   **options)
    if reml or residuals is not None:
        raise SpecError("reml and residuals are options of linear models (mixed), not GLMMs")
    if not isinstance(data, pd.DataFrame) or responses is None:
        raise SpecError("a GLMM batch from a formula or command needs one data frame and the "
                        "responses: fit_batch(formula, Y, data=df, family=...)")
    data = _with_response(model, data, responses)
    if family is None:
        if glmm_options or link is not None:
            raise SpecError("an me* command line carries its own options; give them in it")
        fit = stata(model, data)
    else:
        fit = meglm(model, data, family, link, covariance=covariance, **glmm_options)
    return fit.refit_batch(responses, start=start, **options)


def _spec(model: str):
    return parse_formula(model) if "~" in model else parse_stata(model)


def _is_glmm(model: str, family: str | None) -> bool:
    return family is not None or ("~" not in model and _spec(model).family is not None)


def _with_response(model: str, data: pd.DataFrame, responses) -> pd.DataFrame:
    """``data`` with its response column, taken from the first response if it has none."""
    cbind = cbind_parts(model)
    response = cbind[0] if cbind else _spec(model).response
    if response in data.columns:
        return data
    first = np.asarray(responses, dtype=float)
    first = first[0] if first.ndim == 2 else first
    if first.shape != (len(data),):
        raise DataError(f"data has no column {response!r} and the responses have "
                        f"{first.shape[-1]} values for its {len(data)} rows; add the observed "
                        "response to data (its fit gives the refits' starting values)")
    return data.assign(**{response: first})
