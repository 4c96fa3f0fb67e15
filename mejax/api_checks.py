"""Checks at the public entry points that turn a user's habit into the right spelling.

Python users bring lme4's ``REML=``, statsmodels' ``groups=``, a ``family=``
on a linear model or ``family="logit"``; each gets an error that says the fix,
raised before anything is traced. A 0/1 outcome fitted as linear gets a
warning that points at ``melogit``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .families import FAMILIES, family_of_link
from .spec.family import COMMANDS
from .spec.model import SpecError

__all__ = ["ArgumentError", "BinaryOutcomeWarning", "check_keywords", "check_family",
           "warn_binary_outcome", "stata_numeric_columns"]


class ArgumentError(SpecError, TypeError):
    """A keyword argument the function does not take (a TypeError and a SpecError)."""


class BinaryOutcomeWarning(UserWarning):
    """A 0/1 outcome fitted by a linear mixed model."""


_GROUPS_HINT = ("put the grouping in the formula: 'y ~ x + (1 | g)' for a random intercept per "
                "g, '(1 + x | g)' for a random slope too (lme4's syntax)")
_LINEAR_ONLY = ("REML is for linear models (mejax.mixed); GLMMs are fitted by maximum "
                "likelihood (method= picks the integration)")
# wrong keyword -> the fix, per kind of function ("mixed" or "glmm")
_HINTS = {
    "mixed": {
        "REML": "did you mean reml=? (lowercase: mejax.mixed(..., reml=True))",
        "family": "mejax.mixed fits linear models; for a GLMM use mejax.meglm(formula, data, "
                  "family=...) or mejax.melogit / mejax.mepoisson / ...",
        "link": "mejax.mixed fits linear models; use mejax.meglm(..., family=, link=)",
        "groups": _GROUPS_HINT, "re_formula": _GROUPS_HINT, "vc_formula": _GROUPS_HINT,
        "method": "mejax.mixed has no method=; ML is the default, reml=True for REML",
    },
    "glmm": {
        "reml": _LINEAR_ONLY, "REML": _LINEAR_ONLY,
        "nAGQ": "use method='mcaghq', nodes=<nAGQ> (lme4's nAGQ; method='laplace' for 1)",
        "groups": _GROUPS_HINT, "re_formula": _GROUPS_HINT,
    },
}


def check_keywords(kind: str, func_name: str | None = None) -> Callable:
    """Decorator: an unexpected keyword raises :class:`ArgumentError` naming the fix."""
    def wrap(func: Callable) -> Callable:
        signature = inspect.signature(func)
        accepted = [p for p in signature.parameters]
        name = func_name or func.__name__

        @functools.wraps(func)
        def checked(*args, **kwargs):
            for key in kwargs:
                if key not in accepted:
                    raise ArgumentError(f"mejax.{name}() got an unexpected keyword {key}=: "
                                        f"{_hint(kind, name, key, accepted)}")
            return func(*args, **kwargs)

        checked.__signature__ = signature
        return checked
    return wrap


def _hint(kind: str, name: str, key: str, accepted: list[str]) -> str:
    if kind == "glmm" and key in ("family", "link"):
        return (f"mejax.{name} fixes the family and link; use mejax.meglm(formula, data, "
                "family=..., link=...) for another")
    if key in _HINTS[kind]:
        return _HINTS[kind][key]
    close = difflib.get_close_matches(key.lower(), accepted, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}=?"
    return f"it takes {', '.join(a + '=' for a in accepted[2:])}"


def check_level(level: float) -> None:
    """Stata's rule for level(): a confidence level between 10 and 99.99 percent."""
    if not 10 <= float(level) <= 99.99:
        raise SpecError(f"level({level}) must be between 10 and 99.99")


def check_family(family) -> None:
    """``family="logit"`` (a link) or ``"gaussian"`` (a linear model): say what to write."""
    key = str(family).strip().lower()
    name = family_of_link(key) if key not in FAMILIES else None
    if name is not None:
        cmd = next(c for c, fam_link in COMMANDS.items() if fam_link == (name, key))
        raise SpecError(f"family={family!r} is a link of the {name} family, not a family: use "
                        f"family={name!r}, link={key!r} (or mejax.{cmd})")
    if key in ("gaussian", "normal", "linear", "identity"):
        raise SpecError(f"family={family!r}: for a linear mixed model use mejax.mixed")


def warn_binary_outcome(data, response: str, how: str) -> None:
    """Warn when a linear mixed model is fitted to an outcome that is only 0 and 1."""
    if not isinstance(data, pd.DataFrame) or response not in data.columns:
        return
    col = data[response]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return
    values = col.to_numpy(dtype=float, na_value=np.nan)
    values = values[~np.isnan(values)]
    zero = values == 0.0
    if zero.any() and not zero.all() and np.all(zero | (values == 1.0)):
        warnings.warn(f"{response} takes only the values 0 and 1: this fits a linear "
                      f"(probability) model; for a logistic mixed model use {how}",
                      BinaryOutcomeWarning, stacklevel=3)


def stata_numeric_columns(data: pd.DataFrame, spec) -> pd.DataFrame:
    """Categoricals with numeric levels used as numbers in a Stata command get their values.

    Stata stores factors as numbers (with value labels), so ``mixed y period``
    or ``c.period`` uses the codes; bundled data load such columns as
    categoricals, which ``i.period`` still reads as factors.
    """
    names = {spec.response}
    parts = [spec.fixed] + [p.effects for p in spec.random]
    for part in parts:
        for term in part.terms:
            names |= {v.name for v in term.vars if v.kind == "num" and not v.expr}
    if spec.family is not None:
        names |= spec.family.columns()
    convert = {}
    for name in names:
        col = data[name] if name in data.columns else None
        if col is not None and isinstance(col.dtype, pd.CategoricalDtype) \
                and pd.api.types.is_numeric_dtype(col.cat.categories.dtype):
            convert[name] = col.astype(float)
    return data.assign(**convert) if convert else data
