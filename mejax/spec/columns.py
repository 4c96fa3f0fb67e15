"""The model's columns taken out of a DataFrame, with the odd kinds made usable or refused.

- Duplicate names (common after ``pd.concat(axis=1)``) are refused by name.
- Dates and times are numbers, as in R and Stata: days since 1970-01-01 for
  formulas (R's ``as.numeric(Date)``), days since 01jan1960 for Stata commands
  (Stata's ``%td``); fractions of a day keep the time. Time spans are days.
- A boolean response is 0/1 (False/True), as R's ``glmer`` reads it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .model import DataError

ORIGINS = {"r": pd.Timestamp("1970-01-01"), "stata": pd.Timestamp("1960-01-01")}
DAY = pd.Timedelta(days=1)


def model_columns(data: pd.DataFrame, needed: list[str], style: str,
                  response: str) -> dict[str, pd.Series]:
    """``{name: column}`` for the columns a model needs, checked and converted."""
    duplicated = [] if data.columns.is_unique else [
        name for name in needed if int(np.sum(data.columns == name)) > 1]
    if duplicated:
        name = duplicated[0]
        raise DataError(
            f"the data have {int(np.sum(data.columns == name))} columns named {name!r}; "
            "rename them or keep one (data.loc[:, ~data.columns.duplicated()])")
    columns = {}
    for name in needed:
        col = data[name]
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            col = _as_days(col, style)
        elif name == response and pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        columns[name] = col
    return columns


def _as_days(col: pd.Series, style: str) -> pd.Series:
    """A date, time or time span as (fractional) days, with a note saying from when."""
    if pd.api.types.is_timedelta64_dtype(col):
        return col / DAY
    origin = ORIGINS["stata" if style == "stata" else "r"]
    if getattr(col.dt, "tz", None) is not None:
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    warnings.warn(f"note: {col.name} (dates) used as days since {origin.date()}, as "
                  f"{'Stata' if style == 'stata' else 'R'} does", UserWarning, stacklevel=5)
    return (col - origin) / DAY


def no_complete_rows_message(columns: dict[str, pd.Series], n_rows: int) -> str:
    """Why no row is complete: the columns that are entirely missing, or the most missing."""
    missing = {name: int(col.isna().sum()) for name, col in columns.items()}
    empty = [name for name, count in missing.items() if count == n_rows]
    if empty:
        return (f"no complete observations: {', '.join(map(repr, empty))} "
                f"{'is' if len(empty) == 1 else 'are'} missing in all {n_rows} rows")
    worst = sorted(missing, key=lambda name: -missing[name])[:3]
    counts = ", ".join(f"{name!r} ({missing[name]})" for name in worst)
    return (f"no complete observations: every one of the {n_rows} rows has a missing value "
            f"in some model variable; most missing: {counts}")


MAX_FACTOR_LEVELS = 1000  # one dummy per level: beyond this X'X and the compile dominate


def check_factor_levels(name: str, levels: list, style: str) -> None:
    """Refuse a factor with more levels than a fixed-effects design can hold, or (Stata)
    non-integer or negative values, before any dummy is built."""
    if style == "stata" and levels and all(isinstance(v, (int, float, np.number))
                                           for v in levels):
        values = np.asarray(levels, dtype=float)
        if not np.all(values == np.round(values)):
            raise DataError(f"i.{name}: factor variables may not contain noninteger values "
                            f"({name} has {len(levels)} distinct values); use c.{name} "
                            "or a plain variable for a continuous covariate")
        if np.any(values < 0):
            raise DataError(f"i.{name}: factor variables may not contain negative values")
    if len(levels) > MAX_FACTOR_LEVELS:
        raise DataError(
            f"{name} has {len(levels)} distinct values: as a factor that is {len(levels)} "
            f"dummy columns (the limit is {MAX_FACTOR_LEVELS}). If it is continuous, use it "
            "as a number (c. in Stata; a numeric column in a formula); if it is a grouping, "
            f"make it a random effect ((1 | {name}) or || {name}:)")
