"""Public entry points: the formula API and the Stata command-line API."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from .fit.mixed import fit_design
from .inference.dof import canonical_dfmethod
from .results.mixed_result import MixedResult
from .spec.design import build_design
from .spec.formula import parse_formula
from .spec.model import SpecError
from .spec.residuals import as_residuals
from .spec.stata import parse_stata


def mixed(formula: str, data: pd.DataFrame, *, reml: bool = False, covariance=None,
          residuals=None, level: float = 95.0, dfmethod: str | None = None) -> MixedResult:
    """Fit a linear mixed model from an lme4-style formula.

    ``covariance`` overrides the random-effects covariance structure: one of
    "identity", "independent", "exchangeable", "unstructured" for every term,
    or a dict mapping a group label (e.g. "Subject", "cask:batch") to one.
    ``dfmethod`` ("residual", "repeated", "anova", "satterthwaite" or "kroger";
    the last two need REML) gives t and F tests with small-sample df.
    ``residuals`` sets the within-group residual covariance: a
    :class:`mejax.Residuals` (e.g. ``Residuals("ar", 1, t="time")``), a dict
    with the same fields, or Stata's spelling ``"ar 1, t(time)"``; errors
    correlate within the random-effects level with the most groups unless
    ``group=`` says otherwise. ML by default, as Stata; ``reml=True`` for REML.
    """
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as 'y ~ x + (1 | g)'")
    _check_level(level)
    dfmethod = canonical_dfmethod(dfmethod, reml)
    spec = parse_formula(formula)
    res = as_residuals(residuals)
    if res is not None:
        spec = replace(spec, residuals=res)
    design = build_design(spec, data, covariance)
    options = {"dfmethod": dfmethod} if dfmethod else None
    return MixedResult(design, fit_design(design, reml), reml, level, options)


def stata(command: str, data: pd.DataFrame) -> MixedResult:
    """Fit a model from a Stata command line, e.g. ``"mixed y x1 i.a || id: x1, reml"``."""
    if not isinstance(command, str):
        raise SpecError("command must be a string such as 'mixed y x || id:'")
    spec = parse_stata(command)
    options = dict(spec.options)
    level = float(options.get("level", 95.0))
    _check_level(level)
    design = build_design(spec, data)
    reml = bool(options.get("reml", False))
    if "dfmethod" in options:
        options["dfmethod"] = canonical_dfmethod(options["dfmethod"], reml)
    return MixedResult(design, fit_design(design, reml), reml, level, options)


def _check_level(level: float) -> None:
    if not 10 <= float(level) <= 99.99:
        raise SpecError(f"level({level}) must be between 10 and 99.99")
