"""Fixed-effects design matrices on counterfactual data (the estimation sample with
some variables set to chosen values), built with the fit's own factor levels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..spec import design as spec_design
from ..spec.design import CodedPart, ColumnFrame, build_linear, level_label
from ..spec.model import Var
from ._common import HypothesisError


def _frame(result) -> ColumnFrame:
    design = result.design
    if design.frame is None or design.fixed_part is None:
        raise HypothesisError("this result does not keep its estimation sample; refit it "
                              "with this version of mejax to use margins/contrast")
    return design.frame


def fixed_vars(result) -> dict:
    """Variables of the fixed part: name -> Var (first occurrence)."""
    out: dict = {}
    part = result.design.fixed_part
    if part is None:  # menl: the mean's data columns, all numeric
        return {name: Var(name, kind="num") for name in result.design.variables}
    if isinstance(part, CodedPart):
        return {name: Var(name, kind="cat" if name in part.factors else "num")
                for name in sorted(part.variables)}
    for term in part.terms:
        for var in term.vars:
            if not var.expr:
                out.setdefault(var.name, var)
    return out


def factor_levels(result) -> dict[str, list]:
    """Levels of every factor variable of the fixed part, from the estimation sample."""
    part = result.design.fixed_part
    if part is None:  # menl: no factor variables
        return {}
    frame = _frame(result)
    if isinstance(part, CodedPart):
        return {name: list(levels) for name, levels in part.factors.items()}
    return {name: spec_design.factor_levels(frame[name])
            for name, var in fixed_vars(result).items() if spec_design.is_factor(var, frame)}


def is_factor(result, name: str) -> bool:
    return name in factor_levels(result)


def check_variable(result, name: str) -> None:
    if name not in fixed_vars(result):
        raise HypothesisError(f"variable {name!r} not found in the fixed part of the model; "
                              f"variables are {', '.join(fixed_vars(result)) or '(none)'}")


def match_level(result, name: str, value):
    """The stored level of factor ``name`` that ``value`` (a label or value) denotes."""
    levels = factor_levels(result)[name]
    label = level_label(value) if not isinstance(value, str) else value.strip()
    for lv in levels:
        if level_label(lv) == label:
            return lv
    try:
        number = float(label)
    except ValueError:
        number = None
    for lv in levels:
        if number is not None and isinstance(lv, (int, float, np.number)) and lv == number:
            return lv
    raise HypothesisError(f"level {label} of {name!r} not found; levels are "
                          f"{', '.join(level_label(lv) for lv in levels)}")


def counterfactual_frame(result, overrides: dict | None = None, frame_rows=None) -> ColumnFrame:
    """The estimation sample (or ``frame_rows``) with ``overrides`` applied.

    ``overrides`` maps a variable to a value (broadcast) or an array over the
    sample; factor values are matched to the fit's levels.
    """
    frame = _frame(result)
    levels = factor_levels(result)
    columns = {k: frame[k] for k in frame.numeric} if frame_rows is None else dict(frame_rows)
    n = len(next(iter(columns.values()))) if columns else len(frame)
    for name, value in (overrides or {}).items():
        if name not in frame.numeric:
            raise HypothesisError(f"variable {name!r} is not in the model")
        if name in levels:
            if np.ndim(value) == 0:
                lv = match_level(result, name, value)
                columns[name] = pd.Series([lv] * n)
            else:
                columns[name] = pd.Series(list(value))
        else:
            columns[name] = pd.Series(np.broadcast_to(np.asarray(value, dtype=float), (n,)))
    columns = {k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else pd.Series(v))
               for k, v in columns.items()}
    numeric = {k: columns[k].to_numpy(dtype=float) for k, is_num in frame.numeric.items()
               if is_num}
    return ColumnFrame(columns, numeric)


def design_matrix(result, overrides: dict | None = None, frame_rows=None) -> np.ndarray:
    """X of the fixed part on the estimation sample with ``overrides`` applied.

    ``overrides`` maps a variable to a value (broadcast) or an array over the
    sample; factor values are matched to the fit's levels. Columns follow
    ``result.fixef`` (collinear columns that the fit omitted are dropped).
    ``frame_rows`` optionally replaces the sample with other rows (a dict of arrays).
    """
    design = result.design
    cf = counterfactual_frame(result, overrides, frame_rows)
    x, cols, _ = build_linear(design.fixed_part, cf, design.style, factor_levels(result))
    index = {c.name: j for j, c in enumerate(cols)}
    try:
        return x[:, [index[name] for name in result.fixef.index]]
    except KeyError as err:  # pragma: no cover - design drift
        raise HypothesisError(f"cannot rebuild column {err.args[0]!r}") from None


def balanced_grid(result, fixed: dict | None = None) -> dict:
    """Stata's ``asbalanced`` grid: all combinations of factor levels, continuous
    variables at their sample means; ``fixed`` pins variables to one value."""
    frame = _frame(result)
    levels = factor_levels(result)
    fixed = fixed or {}
    axes = {}
    for name in fixed_vars(result):
        if name in fixed:
            value = fixed[name]
            axes[name] = [match_level(result, name, value) if name in levels else float(value)]
        elif name in levels:
            axes[name] = list(levels[name])
        else:
            axes[name] = [float(np.mean(frame.values(name)))]
    if not axes:
        return {}
    mesh = pd.MultiIndex.from_product(list(axes.values()), names=list(axes)).to_frame(
        index=False)
    rows = {name: mesh[name] for name in mesh.columns}
    for name in frame.numeric:  # other columns (never used by X) at a placeholder
        if name not in rows:
            col = frame[name]
            rows[name] = pd.Series([col.iloc[0]] * len(mesh))
    return rows
