"""What the user asked for, independent of front end (host side).

Both the lme4-style formula parser and the Stata command parser produce a
:class:`ModelSpec`; :mod:`mejax.spec.design` turns it into arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..errors import DataError, SpecError

if TYPE_CHECKING:
    from ..families import Family
    from .formulaic_part import FormulaPart
    from .residuals import Residuals

Style = Literal["r", "stata"]


__all__ = ["DataError", "SpecError", "ModelSpec", "Var", "Term", "LinearPart", "RandomPart"]


@dataclass(frozen=True)
class Var:
    """One variable inside a term.

    ``kind`` is "auto" (factor if the column is non-numeric), "cat" or "num".
    ``base`` picks a factor's reference level: None (first/lowest), a level
    value, "first", "last" or "none" (all levels, Stata's ``ibn.``).
    ``expr`` marks a transform such as ``np.log(x)`` or ``I(x**2)``.
    """

    name: str
    kind: Literal["auto", "cat", "num"] = "auto"
    base: object = None
    expr: bool = False


@dataclass(frozen=True)
class Term:
    """A product of variables; the empty term is the intercept."""

    vars: tuple[Var, ...]

    def key(self) -> frozenset[str]:
        return frozenset(v.name for v in self.vars)


@dataclass(frozen=True)
class LinearPart:
    """A model matrix: an optional intercept plus terms."""

    intercept: bool
    terms: tuple[Term, ...] = ()


@dataclass(frozen=True)
class RandomPart:
    """Random effects ``effects`` varying over the levels of ``group``.

    ``effects`` is a :class:`LinearPart` (Stata's front end) or a formula's
    :class:`~mejax.spec.formulaic_part.FormulaPart` (coded by formulaic).
    ``group`` is a tuple of variables whose combination defines the levels
    (nested levels carry their parents). ``covariance`` is None for the front
    end's default. ``label`` is how results name the group. A part with no
    effects (Stata's ``|| id:, noconstant residuals(...)``) only names the
    group within which residuals correlate.
    """

    group: tuple[str, ...]
    effects: LinearPart | FormulaPart
    covariance: str | None
    label: str


@dataclass(frozen=True)
class ModelSpec:
    response: str
    fixed: LinearPart | FormulaPart  # Stata's terms, or formula text that formulaic codes
    random: tuple[RandomPart, ...]
    style: Style
    options: dict = field(default_factory=dict, compare=False, hash=False)
    residuals: Residuals | None = None
    family: Family | None = None  # None: a linear mixed model
    offset: str | None = None  # a column entering with coefficient one (formula's offset(z))
