"""The rows a prediction is made on: the estimation sample or new data.

One builder for every model: the fixed design, each random-effects term's
columns and group codes (−1 for groups the estimation sample has not seen),
the family's offsets and per-row inputs, and the outcome when a statistic
needs it. New data are coded with the estimation sample's factor levels;
rows with missing values are left out and come back as NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..spec.design import (
    CodedPart,
    ColumnFrame,
    Design,
    build_linear,
    factor_levels,
    is_factor,
    is_numeric_series,
    linear_vars,
)
from ..spec.model import DataError, LinearPart


@dataclass
class Rows:
    """What a prediction needs on its rows: designs, offsets, given values, outcome, groups."""

    x: np.ndarray
    offset: np.ndarray
    given: dict  # the family's per-row inputs (Family.given_values): trials, limits, ...
    z: np.ndarray  # (n, K): the terms' columns side by side, design order
    codes: list[np.ndarray]  # per term; -1 for groups not in the estimation sample
    y: np.ndarray | None
    index: pd.Index
    complete: np.ndarray | None  # rows of the caller's data with all values (new data)

    @property
    def trials(self) -> np.ndarray:
        return self.given.get("trials", np.ones(len(self.x)))


# ---- group levels ------------------------------------------------------------------------
def new_level_codes(design: Design, term, frame) -> np.ndarray:
    """Each row's group code in the estimation sample; −1 for a group not seen there."""
    levels = level_index(design, term)
    if len(term.group_vars) == 1:
        keys = pd.Index(pd.Series(frame[term.group_vars[0]]).to_numpy())
    else:
        keys = pd.MultiIndex.from_arrays(
            [pd.Series(frame[v]).to_numpy() for v in term.group_vars])
    return levels.get_indexer(keys) if len(keys) else np.zeros(0, dtype=int)


def level_index(design: Design, term) -> pd.Index:
    """The term's group levels in code order, with their original values."""
    frame = design.frame
    if frame is None:
        return pd.RangeIndex(term.n_levels, name=term.label)
    if len(term.group_vars) == 1:
        name = term.group_vars[0]
        _, uniques = pd.factorize(frame[name], sort=True)
        return pd.Index(uniques, name=name)
    table = pd.DataFrame({v: frame[v].to_numpy() for v in term.group_vars})
    return table.groupby(list(term.group_vars), sort=True, observed=True).size().index


# ---- designs on new data -------------------------------------------------------------------
def complete_frame(design: Design, data: pd.DataFrame, needed: set[str]):
    """ColumnFrame of the complete rows of ``data`` and the mask of those rows."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = sorted(c for c in needed if c not in data.columns)
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} needed for the prediction not found "
            f"in data; available: {', '.join(map(str, data.columns))}"
        )
    complete = np.ones(len(data), dtype=bool)
    columns, numeric = {}, {}
    for name in sorted(needed):
        col = data[name]
        if is_numeric_series(col):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            complete &= np.isfinite(values)
            numeric[name] = values
        else:
            complete &= ~col.isna().to_numpy()
        columns[name] = col
    columns = {k: v[complete] for k, v in columns.items()}
    numeric = {k: v[complete] for k, v in numeric.items()}
    return ColumnFrame(columns, numeric), complete


def _fixed_levels(design: Design, part: LinearPart, new: ColumnFrame) -> dict[str, list]:
    """Estimation-sample levels of the factors in ``part``; unseen levels in ``new`` are errors."""
    levels: dict[str, list] = {}
    if isinstance(part, CodedPart):
        return levels  # formulaic keeps them (and says which level is unseen)
    train = design.frame
    for term in part.terms:
        for var in term.vars:
            if var.expr or var.name in levels or not is_factor(var, train):
                continue
            known = factor_levels(train[var.name])
            levels[var.name] = known
            if len(new):
                unseen = ~pd.Series(new[var.name]).isin(known).to_numpy()
                if unseen.any():
                    bad = pd.Series(new[var.name]).to_numpy()[unseen][0]
                    raise DataError(
                        f"level {bad!r} of {var.name!r} does not occur in the estimation "
                        "sample; the fixed-effects design cannot code it"
                    )
    return levels


def part_matrix(design: Design, part: LinearPart, frame: ColumnFrame,
                names: list[str]) -> np.ndarray:
    """The columns ``names`` of a linear part built on ``frame`` with the sample's levels."""
    levels = _fixed_levels(design, part, frame)
    mat, cols, _ = build_linear(part, frame, design.style, levels)
    have = [c.name for c in cols]
    return mat[:, [have.index(name) for name in names]]


# ---- the rows ------------------------------------------------------------------------------
def sample_rows(result) -> Rows:
    """The estimation sample's rows."""
    design = result.design
    frame = design.frame
    index = frame[design.response].index if frame is not None else pd.RangeIndex(design.nobs)
    z = (np.column_stack([t.z for t in design.re_terms]) if design.re_terms
         else np.zeros((design.nobs, 0)))
    offset, given, y = result.predictive.outcome_rows()
    return Rows(design.x, offset, given, z, [t.codes for t in design.re_terms], y, index,
                None)


def new_rows(result, data: pd.DataFrame, with_response: bool, with_random: bool) -> Rows:
    """Rows of ``data``: the designs rebuilt with the estimation sample's levels.

    ``with_random``: the statistic reads the random part (its columns and groups
    must be in ``data``); ``with_response``: it reads the outcome.
    """
    design = result.design
    family = result.predictive.family
    if design.fixed_part is None or design.frame is None:
        raise NotImplementedError("this result does not keep the model parts needed for data=")
    needed = set(linear_vars(design.fixed_part)) | family.columns()
    terms = design.re_terms if with_random else []
    for term in terms:
        if term.effects is None:
            raise NotImplementedError("this result does not keep the random-effects parts")
        needed |= set(term.group_vars) | linear_vars(term.effects)
    if with_response:
        needed.add(design.response)
    missing = sorted(n for n in family.columns() if n not in data.columns)
    if missing and missing[0].startswith("_trials_"):
        raise DataError("the binomial trials came from cbind(successes, failures); give data= "
                        f"a column {missing[0]!r} with the number of trials")
    frame, complete = complete_frame(design, data, needed)
    n = int(complete.sum())
    x = (part_matrix(design, design.fixed_part, frame, design.x_names) if n
         else np.zeros((0, len(design.x_names))))
    zs, codes = [], []
    for term in terms:
        zs.append(part_matrix(design, term.effects, frame, term.effect_names) if n
                  else np.zeros((0, len(term.effect_names))))
        codes.append(new_level_codes(design, term, frame) if n else np.zeros(0, dtype=int))
    z = np.column_stack(zs) if zs else np.zeros((n, 0))
    y = family.observed(frame.values(design.response)) if with_response else None
    offset = family.offset_values(frame) if n else np.zeros(0)
    return Rows(x, offset, family.given_values(frame, n), z, codes, y, data.index, complete)
