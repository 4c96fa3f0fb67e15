"""Stata ``menl``'s residual options as mejax's residual structures and variance functions.

``rescorrelation(ar 1, t(time))`` and ``rescovariance(...)`` become the
:class:`mejax.spec.residuals.Residuals` that ``mixed``'s ``residuals()`` uses (one
engine for the within-group correlation); ``resvariance(distinct, index(v))`` and
``rescovariance(independent, index(v))`` become the variance function ``distinct``.
Stata's ``ctar1`` (continuous-time AR(1), nlme's ``corCAR1``) is mixed's ``exponential``;
``rescorrelation(unstructured, t())`` (nlme's ``corSymm``) is the residual structure
``unstructured_correlation``: free correlations of the occasions and one variance;
``rescorrelation(banded #, t())`` is ``banded_correlation`` (the correlations within #
occasions free, the others zero).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import SpecError
from .residuals import Residuals

_SUBOPTION = re.compile(r"([A-Za-z]+)\s*\(\s*([^()]*?)\s*\)|(\S+)")
_HEAD = re.compile(r"^\s*([A-Za-z]+[0-9]*)\s*(\d+)?\s*$")
_CORRELATIONS = {"exchangeable": "exchangeable", "ar": "ar", "ma": "ma", "ctar1": "exponential",
                 "toeplitz": "toeplitz"}
_COVARIANCES = {**_CORRELATIONS, "unstructured": "unstructured", "banded": "banded"}


@dataclass(frozen=True)
class ResidualOptions:
    """What ``rescovariance()`` / ``rescorrelation()`` say: a correlation structure within
    groups (or None) and a ``resvariance()`` text it implies (``distinct, index(v)``)."""

    correlation: Residuals | None
    resvariance: str | None = None


def suboptions(text: str, option: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``t(time) group(id)`` -> {"t": "time", "group": "id"}; others refused by name."""
    out: dict[str, str] = {}
    for named, arg, bare in _SUBOPTION.findall(text):
        word = (named or bare).lower()
        if not named or word not in allowed or not arg.split():
            hint = ", ".join(f"{a}(varname)" for a in allowed) or "none"
            raise SpecError(f"{option}(): suboption {named or bare!r} is not supported "
                            f"(suboptions: {hint})")
        out[word] = arg.strip()
    return out


def _head(text: str, option: str, kinds: dict[str, str]) -> tuple[str, int | None]:
    """The structure's name (Stata's abbreviations: two letters or more) and its order."""
    m = _HEAD.match(text)
    word = m.group(1).lower() if m else ""
    names = (*kinds, "identity", "independent")
    matches = [k for k in names if len(word) >= 2 and k.startswith(word)]
    if len(matches) != 1:
        raise SpecError(f"{option}({text.strip()}): use one of {', '.join(names)}")
    return matches[0], int(m.group(2)) if m.group(2) else None


def parse_rescorrelation(text: str) -> ResidualOptions:
    """Stata's ``rescorrelation(rescorr [, t(varname) group(varname) by(varname)])``;
    ``by()`` gives every level of a group-level variable its own parameters."""
    head, _, opts = str(text).partition(",")
    kind, order = _head(head, "rescorrelation", {**_CORRELATIONS, "unstructured": "",
                                                  "banded": ""})
    subs = suboptions(opts, "rescorrelation", ("t", "group", "by"))
    if kind == "identity":
        return ResidualOptions(None)
    if kind in ("unstructured", "banded"):
        if "t" not in subs:
            raise SpecError(f"rescorrelation({kind}) needs the occasions: "
                            f"rescorrelation({kind}{' #' if kind == 'banded' else ''}, "
                            "t(varname))")
        return ResidualOptions(Residuals(f"{kind}_correlation",
                                         order if kind == "banded" else None, subs["t"],
                                         subs.get("by"), subs.get("group")))
    if kind == "independent":
        raise SpecError("rescorrelation(independent) is rescorrelation(identity)")
    return ResidualOptions(_residuals(kind, order, subs, "rescorrelation"))


def parse_rescovariance(text: str) -> ResidualOptions:
    """Stata's ``rescovariance(rescov [, t() index() group() by()])``: a correlation structure
    with one variance, or independent errors with a variance per level of ``index()``."""
    head, _, opts = str(text).partition(",")
    kind, order = _head(head, "rescovariance", _COVARIANCES)
    subs = suboptions(opts, "rescovariance", ("t", "index", "group", "by"))
    if kind == "identity":
        return ResidualOptions(None)
    if kind == "independent":
        if "index" not in subs and "by" in subs:
            return ResidualOptions(Residuals("independent", None, None, subs["by"],
                                             subs.get("group")))
        if "index" not in subs:
            return ResidualOptions(None)
        return ResidualOptions(None, f"distinct, index({subs['index']})")
    if "index" in subs:
        raise SpecError(f"rescovariance({kind}): index() goes with independent; give the "
                        "occasions with t(varname)")
    return ResidualOptions(_residuals(kind, order, subs, "rescovariance"))


def _residuals(kind: str, order: int | None, subs: dict, option: str) -> Residuals:
    mixed_kind = _COVARIANCES[kind]
    if mixed_kind == "exponential" and "t" not in subs:
        raise SpecError(f"{option}(ctar1) needs the time variable: t(varname)")
    return Residuals(mixed_kind, order, subs.get("t"), subs.get("by"), subs.get("group"))
