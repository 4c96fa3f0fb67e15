"""Designs from what users type: a Stata command line or an lme4-style formula.

The front ends (:mod:`mejax.api`, :mod:`mejax.bayes_api`) build the same
:class:`mejax.spec.design.Design` here; fitting and sampling happen above.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd

from .api_checks import check_family, check_level, stata_numeric_columns
from .families import Gaussian
from .spec.design import build_design
from .spec.family import make_family
from .spec.formula import parse_formula
from .spec.model import DataError, SpecError
from .spec.st_records import st_data
from .spec.stata import parse_stata
from .spec.survey import weight_clause
from .spec.survival import StSettings, apply_stset, parse_stset
from .stata_expr import ExprContext
from .stata_syntax import estimation_qualifiers, row_mask

__all__ = ["cbind_parts", "cbind_response", "formula_design", "stata_design"]


def cbind_parts(formula: str) -> tuple[str, str] | None:
    """(successes, the other part) of lme4's ``cbind(successes, ...) ~ ...``; None otherwise."""
    lhs, sep, _ = formula.partition("~")
    match = re.fullmatch(r"\s*cbind\(\s*(\w+)\s*,\s*(.+?)\s*\)\s*", lhs)
    return match.groups() if sep and match else None


def cbind_response(formula: str, data: pd.DataFrame, trials):
    """lme4's ``cbind(successes, n - successes)`` or ``cbind(successes, failures)`` response."""
    parts = cbind_parts(formula)
    if parts is None:
        return formula, data, trials
    rhs = formula.partition("~")[2]
    if trials is not None:
        raise SpecError("give the binomial trials either in cbind() or as trials=, not both")
    successes, other = parts
    total = re.fullmatch(rf"(\w+)\s*-\s*{successes}", other)
    if total:
        return f"{successes} ~{rhs}", data, total.group(1)
    if not re.fullmatch(r"\w+", other):
        raise SpecError(f"cannot read cbind({successes}, {other}): use cbind(successes, "
                        "failures) or cbind(successes, trials - successes)")
    for name in (successes, other):
        if name not in data.columns:
            raise DataError(f"column {name!r} not found in data")
    column = f"_trials_{successes}"
    data = data.assign(**{column: data[successes] + data[other]})
    return f"{successes} ~{rhs}", data, column


def with_stset(spec, data: pd.DataFrame, st: StSettings | str | None):
    """A survival command's specification and data under ``stset`` (unchanged otherwise).

    ``st`` is :func:`~mejax.spec.survival.parse_stset`'s settings or the text after ``stset``.
    """
    if spec.family is None or not spec.family.uses_stset:
        return spec, data
    st = parse_stset(st) if isinstance(st, str) else st
    return apply_stset(spec, st), st_data(data, st)


def stata_design(command: str, data: pd.DataFrame, st: StSettings | str | None = None,
                 linear_family: bool = False):
    """(spec, estimation data, design) of an unweighted Stata command line, ``if``/``in``
    applied (what ``bayes:`` wraps); ``mestreg`` reads ``st`` as :func:`stata` does;
    ``linear_family`` builds ``mixed`` as :func:`formula_design` does."""
    if not isinstance(command, str):
        raise SpecError("command must be a string such as 'mixed y x || id:'")
    if re.match(r"^\s*svy\b", command):
        raise SpecError("bayes: cannot be combined with svy:; survey designs are not supported "
                        "by Bayesian estimation")
    command, weight = weight_clause(command)
    if weight is not None:
        raise SpecError("bayes: weights ([pw=...]) are not supported by Bayesian estimation")
    command, if_exp, in_text = estimation_qualifiers(command)
    spec = parse_stata(command)
    spec, data = with_stset(spec, data, st)
    check_level(float(spec.options.get("level", 95.0)))
    if isinstance(data, pd.DataFrame):
        if if_exp is not None or in_text is not None:
            data = data[row_mask(ExprContext(data), if_exp, in_text)]
        data = stata_numeric_columns(data, spec)
    if linear_family and spec.family is None:
        spec = replace(spec, family=Gaussian())
    return spec, data, build_design(spec, data)


def formula_design(formula: str, data: pd.DataFrame, family: str | None = None,
                   link: str | None = None, *, trials=None, offset=None, exposure=None,
                   dispersion=None, covariance=None, linear_family: bool = False):
    """The design of an lme4-style formula: a linear model, or a GLMM with ``family``.

    ``linear_family`` builds a linear model as the Gaussian family of the GLMM
    engine (what integrating its effects out by the engine needs).
    """
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as 'y ~ x + (1 | g)'")
    if family is None:
        spec = parse_formula(formula)
        return build_design(replace(spec, family=Gaussian()) if linear_family else spec, data,
                            covariance)
    check_family(family)
    formula, data, trials = cbind_response(formula, data, trials)
    fam = make_family(family, link, trials=trials, offset=offset, exposure=exposure,
                      dispersion=dispersion)
    return build_design(replace(parse_formula(formula), family=fam), data, covariance)
