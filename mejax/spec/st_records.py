"""Stata's ``stset ..., id()``: multiple records per subject, each a span (t0, t] (host side).

Records are ordered by exit time within subject. A record begins where the
subject's previous record ended (``time0()`` names the beginnings instead),
and not before the subject's ``enter()`` time. As Stata's ``stset`` does by
default (``exit(failure)``), a subject leaves at its first failure. Records
Stata would exclude (``_st == 0``) get a missing beginning, so the fit drops
them, and each reason is counted in the notes:

* obs. end on or before enter()
* multiple records at same instant (a record ending when the previous one did)
* overlapping records (``time0()`` before the previous record's exit)
* obs. begin on or after (first) failure

The beginnings go to column ``_t0``, which the survival family reads as each
record's entry time (its log density is then log f(t)/S(t0) or log S(t)/S(t0)).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..families.survival import RECORD_START as ST_START
from .model import DataError
from .survival import StSettings


@dataclass(frozen=True)
class StRecords:
    """The data with each record's beginning in ``_t0``, and what was excluded."""

    data: pd.DataFrame
    excluded: dict[str, int]
    failed: np.ndarray  # which records fail (on the data's rows)

    def notes(self) -> list[str]:
        return [f"{n:,} {why} (excluded)" for why, n in self.excluded.items() if n]

    def summary(self, st: StSettings) -> str:
        """Stata's stset tally: records, exclusions, subjects, failures, time at risk."""
        kept = self.data[ST_START].notna().to_numpy()
        at_risk = float(np.sum(self.data[st.time].to_numpy(dtype=float)[kept]
                               - self.data[ST_START].to_numpy()[kept]))
        rule = "-" * 78
        lines = [rule, f"{len(self.data):>11,}  total observations"]
        lines += [f"{n:>11,}  {why}" for why, n in self.excluded.items() if n]
        lines += [rule, f"{int(kept.sum()):>11,}  observations remaining, representing",
                  f"{self.data.loc[kept, st.id].nunique():>11,}  subjects",
                  f"{int(self.failed[kept].sum()):>11,}  failures in single-failure-per-subject "
                  "data", f"{at_risk:>11.10g}  total analysis time at risk and under "
                  "observation"]
        return "\n".join(lines)


def _numeric(data: pd.DataFrame, name: str, role: str) -> np.ndarray:
    if name not in data.columns:
        raise DataError(f"stset: variable {name!r} ({role}) not found")
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataError(f"stset: {role} variable {name!r} must be numeric")
    return col.to_numpy(dtype=float)


def failures(code: np.ndarray | None, codes: tuple[float, ...] | None, n: int) -> np.ndarray:
    """Which records fail: the listed codes, else nonzero and nonmissing (every record
    without a failure variable)."""
    if code is None:
        return np.ones(n, dtype=bool)
    if codes is not None:
        return np.isin(code, np.asarray(codes, dtype=float))
    return np.isfinite(code) & (code != 0)


def counting_process(data: pd.DataFrame, st: StSettings) -> StRecords:
    """Each record's beginning under ``stset time, id(id) [failure() enter() time0()]``."""
    if st.id is None:
        raise DataError("counting_process needs stset's id()")
    if st.id not in data.columns:
        raise DataError(f"stset: id variable {st.id!r} not found")
    subject = data[st.id]
    if subject.isna().any():
        raise DataError(f"stset: id variable {st.id!r} is missing in "
                        f"{int(subject.isna().sum())} record(s); every record needs its "
                        "subject's id (drop those records or fill the id)")
    time = _numeric(data, st.time, "time")
    fails = failures(None if st.failure is None else _numeric(data, st.failure, "failure"),
                     st.codes, len(data))
    codes, _ = pd.factorize(subject, sort=False)
    usable = np.isfinite(time)
    order = np.lexsort((time, codes))  # by subject, then exit time (missing times last)
    order = order[usable[order]]
    sid, t = codes[order], time[order]
    first = np.r_[True, sid[1:] != sid[:-1]]
    previous = np.where(first, 0.0, np.r_[0.0, t[:-1]])
    excluded = dict.fromkeys(("obs. end on or before enter()",
                              "multiple records at same instant",
                              "overlapping records",
                              "obs. begin on or after (first) failure"), 0)
    keep = np.ones(len(order), dtype=bool)
    if st.time0 is not None:
        start = _numeric(data, st.time0, "time0")[order]
        overlap = ~first & (start < previous)
        excluded["overlapping records"] = int(overlap.sum())
        keep &= ~overlap
    else:
        start = previous.copy()
        same = ~first & (t == previous)
        excluded["multiple records at same instant"] = int(same.sum())
        keep &= ~same
    if st.entry is not None:
        enter = _numeric(data, st.entry, "enter")[order]
        per_subject = pd.Series(enter).groupby(sid)
        if (per_subject.nunique() > 1).any():
            raise DataError(f"stset: enter({st.entry}) differs between the records of a "
                            f"subject; the entry time is one per subject ({st.id})")
        enter = per_subject.transform("max").to_numpy()
        ended = t <= enter
        excluded["obs. end on or before enter()"] = int((ended & keep).sum())
        keep &= ~ended
        start = np.maximum(start, np.nan_to_num(enter, nan=0.0))
    failed = fails[order] & keep
    first_failure = pd.Series(np.where(failed, t, np.inf)).groupby(sid).transform("min")
    after = start >= first_failure.to_numpy()
    excluded["obs. begin on or after (first) failure"] = int((after & keep).sum())
    keep &= ~after
    begins = np.full(len(data), np.nan)
    begins[order[keep]] = start[keep]
    return StRecords(data.assign(**{ST_START: begins}), excluded, fails)


def st_data(data, st: StSettings | None):
    """The data mestreg fits: with ``id()``, each record's beginning in ``_t0``, and a
    warning counting the records Stata's stset excludes; else the data unchanged."""
    if st is None or st.id is None or not isinstance(data, pd.DataFrame):
        return data
    records = counting_process(data, st)
    notes = records.notes()
    if notes:
        warnings.warn(f"stset, id({st.id}): {'; '.join(notes)}", UserWarning, stacklevel=3)
    return records.data
