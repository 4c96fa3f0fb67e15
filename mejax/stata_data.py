"""Stata's data-management commands on a DataFrame: generate, replace, keep, drop, set obs.

Each command takes the data in memory and the command's text and returns the
new data and Stata's message (``(3 missing values generated)``); it never
changes its input. Everything is column-wise numpy through
:mod:`mejax.stata_expr`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .stata_expr import ExprContext, ExprError, column_values, evaluate
from .stata_syntax import expand_varlist, row_mask, split_qualifiers

__all__ = ["generate", "replace", "keep_drop", "set_obs"]

_STORAGE = r"(?:byte|int|long|float|double|str\d+|strL|str)"
_ASSIGN = re.compile(rf"^(?:(?P<type>{_STORAGE})\s+)?(?P<name>[A-Za-z_]\w*)(?::\w+)?\s*"
                     rf"=(?!=)\s*(?P<exp>.+)$", re.S)
_VALID = re.compile(r"[A-Za-z_]\w{0,31}")
_RESERVED = {"_n", "_N", "_b", "_se", "_rc", "_cons", "_all", "in", "if", "using", "with"}


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _parse_assignment(rest: str, command: str):
    m = _ASSIGN.match(rest.strip())
    if m is None:
        raise ExprError(f"{command}: use {command} [type] newvar = exp [if] [in]", rc=198)
    exp, if_exp, in_text = split_qualifiers(m.group("exp"))
    return m.group("type"), m.group("name"), exp, if_exp, in_text


def _is_string(values) -> bool:
    return isinstance(values, np.ndarray) and values.dtype == object


def _check_type(storage: str | None, values, name: str) -> None:
    is_str_type = storage is not None and storage.startswith("str")
    if storage is not None and is_str_type != _is_string(values):
        raise ExprError(f"type mismatch: {storage} {name} = "
                        f"{'a string' if _is_string(values) else 'a number'}", rc=109)


def generate(frame: pd.DataFrame, rest: str, ctx: ExprContext) -> tuple[pd.DataFrame, str]:
    """``generate [type] newvar = exp [if] [in]``; rows not selected are missing."""
    storage, name, exp, if_exp, in_text = _parse_assignment(rest, "generate")
    if not _VALID.fullmatch(name) or name in _RESERVED:
        raise ExprError(f"{name} invalid name", rc=198)
    if name in frame.columns:
        raise ExprError(f"variable {name} already defined", rc=110)
    values = evaluate(exp, ctx)
    _check_type(storage, values, name)
    mask = row_mask(ctx, if_exp, in_text)
    if _is_string(values):
        new = np.where(mask, values, "").astype(object)
        missing = int((new == "").sum())
    else:
        new = np.where(mask, np.asarray(values, dtype=float), np.nan)
        missing = int(np.isnan(new).sum())
    out = frame.copy()
    out[name] = new
    if missing and not _is_string(values):
        return out, f"({_plural(missing, 'missing value', 'missing values')} generated)"
    return out, ""


def replace(frame: pd.DataFrame, rest: str, ctx: ExprContext) -> tuple[pd.DataFrame, str]:
    """``replace oldvar = exp [if] [in]``; says how many values really changed."""
    storage, name, exp, if_exp, in_text = _parse_assignment(rest, "replace")
    if storage is not None:
        raise ExprError("replace: no storage type (replace oldvar = exp)", rc=198)
    if name not in frame.columns:  # replace does not abbreviate, as in Stata
        raise ExprError(f"variable {name} not found", rc=111)
    old = column_values(frame[name])
    values = evaluate(exp, ctx)
    if _is_string(values) != _is_string(old):
        raise ExprError(f"type mismatch: {name} is {'a string' if _is_string(old) else 'numeric'}"
                        f" variable", rc=109)
    mask = row_mask(ctx, if_exp, in_text)
    new = np.where(mask, values, old)
    if _is_string(old):
        changed = int((new != old).sum())
        to_missing = int(((new == "") & (old != "")).sum())
    else:
        new = new.astype(float)
        same = (new == old) | (np.isnan(new) & np.isnan(old))
        changed = int((~same).sum())
        to_missing = int((np.isnan(new) & ~np.isnan(old)).sum())
    out = frame.copy()
    out[name] = _restore_dtype(frame[name], new)
    text = f"({_plural(changed, 'real change', 'real changes')} made"
    return out, text + (f", {to_missing} to missing)" if to_missing else ")")


def _restore_dtype(col: pd.Series, values: np.ndarray):
    """Keep a categorical when every new value is one of its levels."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        present = pd.Series(values)[pd.notna(values) & (values != "")] \
            if values.dtype == object else pd.Series(values[~np.isnan(values)])
        if present.isin(cats).all():
            kept = np.where(pd.isna(values) | (values == ""), None, values) \
                if values.dtype == object else values
            return pd.Categorical(kept, categories=cats, ordered=col.cat.ordered)
    return values


def keep_drop(frame: pd.DataFrame, rest: str, ctx: ExprContext,
              keep: bool) -> tuple[pd.DataFrame, str]:
    """``keep|drop varlist`` or ``keep|drop if exp / in range``."""
    command = "keep" if keep else "drop"
    head, if_exp, in_text = split_qualifiers(rest)
    if if_exp is None and in_text is None:
        names = expand_varlist(head, frame.columns)
        kept = [c for c in frame.columns if (c in names) == keep]
        return frame[kept].copy(), ""
    if head:
        raise ExprError(f"{command}: give a varlist or if/in, not both", rc=198)
    mask = row_mask(ctx, if_exp, in_text)
    remaining = mask if keep else ~mask
    deleted = int((~remaining).sum())
    return frame[remaining].copy(), \
        f"({_plural(deleted, 'observation', 'observations')} deleted)"


def set_obs(frame: pd.DataFrame, count: str) -> pd.DataFrame:
    """``set obs #``: add missing observations up to # (never fewer than now)."""
    if not re.fullmatch(r"\d+", count.strip()):
        raise ExprError(f"set obs {count}: a number of observations is needed", rc=198)
    n = int(count)
    if n < len(frame):
        raise ExprError(f"set obs {n}: observation number out of range (there are "
                        f"{len(frame)}; use drop to remove observations)", rc=198)
    if len(frame.columns) == 0:
        return pd.DataFrame(index=pd.RangeIndex(n))
    start = int(frame.index.max()) + 1 if len(frame) else 0
    extra = pd.DataFrame(index=pd.RangeIndex(start, start + n - len(frame)))
    return pd.concat([frame, extra])
