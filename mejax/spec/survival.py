"""Stata's ``stset``: which variables are the survival time, failure and entry (host side).

``stset time, failure(fail)``, ``failure(fail==1 3)``, ``enter(time t0)`` or
``enter(t0)``, ``id(patient)`` with ``time0(begin)``. The settings fill a survival
family's fields (:func:`apply_stset`) when ``mestreg`` runs; the family validates the
data. With ``id()`` the records of a subject are spans one after another
(:func:`mejax.spec.st_records.counting_process` finds each record's beginning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .model import ModelSpec, SpecError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ST_RESPONSE = "_t"  # what mestreg's parsed specification names its response until stset


@dataclass(frozen=True)
class StSettings:
    """The result of ``stset``: time, failure variable and codes, entry, subject id."""

    time: str
    failure: str | None = None
    codes: tuple[float, ...] | None = None
    entry: str | None = None
    id: str | None = None
    time0: str | None = None  # each record's beginning (with id(); else the previous exit)

    def columns(self) -> set[str]:
        return {c for c in (self.time, self.failure, self.entry, self.id, self.time0) if c}

    def describe(self) -> str:
        """Stata's stset echo: the failure event and analysis time."""
        fail = "(assumed to fail at time of exit)"
        if self.failure:
            codes = " ".join(f"{c:g}" for c in self.codes) if self.codes else "!= 0 & < ."
            fail = f"{self.failure} {'== ' + codes if self.codes else codes}"
        lines = []
        if self.id:
            lines.append(f"{'id':>22}:  {self.id}")
        begin = self.time0 or (f"{self.time}[_n-1]" if self.id else self.entry or "0")
        lines += [f"{'failure event':>22}:  {fail}", f"{'obs. time interval':>22}:  "
                  f"({begin}, {self.time}]"]
        if self.entry:
            lines.append(f"{'enter on or after':>22}:  time {self.entry}")
        lines.append(f"{'exit on or before':>22}:  failure")
        return "\n".join(lines)


def _option(text: str, name: str, minimum: str) -> str | None:
    for m in re.finditer(r"([A-Za-z][A-Za-z0-9]*)\(([^()]*)\)", text):
        word = m.group(1).lower()
        if name.startswith(word) and word.startswith(minimum):
            return m.group(2).strip()
    return None


def parse_stset(text: str) -> StSettings:
    """``time [, failure(var[==codes]) enter([time] var) id(var)]`` (what follows ``stset``)."""
    body, _, options = text.partition(",")
    words = body.split()
    if len(words) != 1 or not re.fullmatch(_NAME, words[0]):
        raise SpecError("stset needs one time variable: stset time, failure(fail)")
    leftover = re.sub(r"[A-Za-z][A-Za-z0-9]*\([^()]*\)", "", options).strip()
    if leftover:
        raise SpecError(f"stset: option {leftover.split()[0]!r} is not supported (use "
                        "failure(), enter(), id(), time0())")
    failure, codes = _option(options, "failure", "f"), None
    if failure is not None:
        var, sep, listed = failure.partition("==")
        var = var.strip()
        if not re.fullmatch(_NAME, var):
            raise SpecError(f"stset: failure({failure}) must name a variable")
        if sep:
            try:
                codes = tuple(float(c) for c in listed.replace(",", " ").split())
            except ValueError:
                raise SpecError(f"stset: failure({failure}): the codes after == must be "
                                "numbers") from None
            if not codes:
                raise SpecError(f"stset: failure({failure}) lists no codes after ==")
        failure = var
    entry = _option(options, "enter", "en")
    if entry is not None:
        entry = entry.split()[-1] if entry.split()[:1] == ["time"] else entry
        if not re.fullmatch(_NAME, entry):
            raise SpecError("stset: enter() takes a variable: enter(time t0) or enter(t0)")
    subject = _option(options, "id", "id")
    time0 = _option(options, "time0", "time0")
    if time0 is not None and not re.fullmatch(_NAME, time0):
        raise SpecError("stset: time0() takes a variable: time0(begin)")
    if time0 is not None and subject is None:
        raise SpecError("stset: time0() describes multiple records per subject; add id(idvar)")
    return StSettings(words[0], failure, codes, entry, subject, time0)


def apply_stset(spec: ModelSpec, st: StSettings | None) -> ModelSpec:
    """Fill a survival model's time, failure and entry from the ``stset`` settings."""
    if st is None:
        raise SpecError("data not st: run stset first (stset time, failure(fail)), or use "
                        "mejax.mestreg(formula, data, time=..., failure=...)")
    family = replace(spec.family, time=st.time, failure=st.failure, failure_codes=st.codes,
                     entry=st.entry, subject=st.id)
    return replace(spec, response=st.time, family=family)
