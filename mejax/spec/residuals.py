"""Residual (R-side) covariance specifications: Stata's ``residuals(rspec, t() by())``.

A :class:`Residuals` says how the errors of one lowest-level group are
correlated and how their variance differs across the levels of ``by``. The
Python API accepts a :class:`Residuals`, a dict with the same fields, or the
Stata spelling ``"ar 1, t(time) by(sex)"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import SpecError

# Stata's names and abbreviations -> canonical type
RESIDUAL_ALIASES = {
    "independent": "independent", "ind": "independent", "inde": "independent",
    "indep": "independent",
    "exchangeable": "exchangeable", "exc": "exchangeable", "exch": "exchangeable",
    "ar": "ar", "ma": "ma",
    "unstructured": "unstructured", "un": "unstructured", "uns": "unstructured",
    "unstr": "unstructured",
    "banded": "banded", "ba": "banded", "band": "banded",
    "toeplitz": "toeplitz", "to": "toeplitz", "toep": "toeplitz",
    "exponential": "exponential", "exp": "exponential", "expo": "exponential",
    # menl's rescorrelation(unstructured) and rescorrelation(banded #): a correlation matrix
    # with one common variance
    "unstructured_correlation": "unstructured_correlation",
    "banded_correlation": "banded_correlation",
}
ORDERED_TYPES = ("ar", "ma", "toeplitz", "banded", "banded_correlation")
# structures whose lags are differences of an integer time variable
INTEGER_TIME_TYPES = ("ar", "ma", "toeplitz", "banded", "unstructured")


@dataclass(frozen=True)
class Residuals:
    """Within-group residual covariance.

    ``type``: independent, exchangeable, ar, ma, toeplitz, banded, unstructured,
    unstructured_correlation / banded_correlation (one variance, free correlations) or
    exponential.
    ``order``: the order of ar/ma (default 1) or the number of
    bands of toeplitz/banded (default: all). ``t``: the time variable (default:
    the order of the observations within the group). ``by``: separate residual
    parameters for each level of this variable. ``group``: the grouping
    variable within which errors correlate (default: the lowest random-effects
    level).
    """

    type: str
    order: int | None = None
    t: str | None = None
    by: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        kind = RESIDUAL_ALIASES.get(str(self.type).strip().lower())
        if kind is None:
            raise SpecError(
                f"unknown residual structure {self.type!r}; use independent, exchangeable, "
                "ar #, ma #, unstructured, banded #, toeplitz # or exponential"
            )
        object.__setattr__(self, "type", kind)
        if self.order is not None:
            if kind not in ORDERED_TYPES:
                raise SpecError(f"residual structure {kind} takes no order")
            if isinstance(self.order, bool) or int(self.order) != self.order or self.order < 0:
                raise SpecError(
                    f"residual order must be a non-negative integer, got {self.order!r}")
            if kind in ("ar", "ma") and self.order < 1:
                raise SpecError(f"{kind} needs an order of at least 1")
            object.__setattr__(self, "order", int(self.order))
        elif kind in ("ar", "ma"):
            object.__setattr__(self, "order", 1)

    @property
    def uses_time(self) -> bool:
        return self.type not in ("independent", "exchangeable")

    def columns(self) -> set[str]:
        return {c for c in (self.t, self.by, self.group) if c}


_RSPEC = re.compile(r"^\s*([A-Za-z]+)\s*(\d+)?\s*$")


def parse_rspec(text: str) -> Residuals:
    """Parse Stata's ``rspec [, t(varname) by(varname)]``."""
    head, _, opts = text.partition(",")
    m = _RSPEC.match(head)
    if not m:
        raise SpecError(f"cannot parse residual structure {head.strip()!r} in residuals({text})")
    kind, order = m.group(1), m.group(2)
    fields: dict[str, str] = {}
    for token in re.findall(r"[A-Za-z]+\s*\([^)]*\)|\S+", opts):
        om = re.fullmatch(r"([A-Za-z]+)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)", token)
        if not om or om.group(1).lower() not in ("t", "by"):
            raise SpecError(
                f"unknown residuals() suboption {token!r}; use t(varname) or by(varname)")
        fields[om.group(1).lower()] = om.group(2)
    return Residuals(kind, int(order) if order else None, fields.get("t"), fields.get("by"))


def as_residuals(value) -> Residuals | None:
    """The Python API's ``residuals=`` argument as a :class:`Residuals` (None: independent)."""
    if value is None or isinstance(value, Residuals):
        return value
    if isinstance(value, str):
        return parse_rspec(value)
    if isinstance(value, dict):
        unknown = set(value) - {"type", "order", "t", "by", "group"}
        if unknown or "type" not in value:
            raise SpecError(
                "residuals= dict needs 'type' and may have 'order', 't', 'by', 'group'"
                + (f"; unknown key(s) {sorted(unknown)}" if unknown else "")
            )
        return Residuals(**value)
    raise SpecError("residuals= must be a Residuals, a dict or a string such as 'ar 1, t(time)'")
