"""Stata's ``bayes[, options]:`` prefix: split it from the command it wraps (host side).

``bayes, prior({y:x1}, normal(0,100)) mcmcsize(2000) burnin(1000) rseed(1)
nchains(4): melogit y x || id:`` gives the command line and the sampler's
options; ``prior()`` may be repeated, ``normalprior(#)`` and
``igammaprior(# #)`` change the defaults, ``initial({y:x1} 0.5 ...)`` sets
starting values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SpecError
from ..spec.formula import split_words

# commands the prefix can wrap (the me* list grows with the families)
WRAPPABLE = ("mixed", "xtmixed", "melogit", "meqrlogit", "meprobit", "mecloglog", "mepoisson",
             "meqrpoisson", "menbreg", "meologit", "meoprobit", "metobit", "meintreg",
             "mestreg", "menl")

# option -> (minimum abbreviation, Python keyword)
OPTIONS = {"mcmcsize": ("mcmcs", "draws"), "burnin": ("burn", "warmup"),
           "thinning": ("thin", "thinning"), "rseed": ("rseed", "seed"),
           "nchains": ("nchain", "chains"), "prior": ("prior", None),
           "normalprior": ("normalpr", None), "igammaprior": ("igammapr", None),
           "iwishartprior": ("iwishartpr", None), "initial": ("init", None),
           "level": ("l", "level"), "adaptation": ("adapt", None), "dots": ("dots", None),
           "nodots": ("nodots", None)}


@dataclass
class Prefix:
    """What a ``bayes`` prefix asked for: the wrapped command and the sampler's settings."""

    command: str
    settings: dict = field(default_factory=dict)  # chains, draws, warmup, thinning, seed
    priors: dict = field(default_factory=dict)  # reference -> Stata prior text
    default_normal_sd: float | None = None
    default_igamma: tuple[float, float] | None = None
    default_iwishart_df: float | None = None
    initial: dict = field(default_factory=dict)
    level: float = 95.0


def _top_level_colon(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == ":" and depth == 0:
            return i
    return -1


def _tokens(text: str) -> list[str]:
    tokens, depth = split_words(text, "({[", ")}]")
    if depth:
        raise SpecError(f"unbalanced parentheses in the bayes options {text.strip()!r}")
    return tokens


def is_bayes_prefix(line: str) -> bool:
    return re.match(r"^\s*bayes\s*[,:]", line) is not None


def parse_prefix(line: str) -> Prefix:
    """Split ``bayes[, options]: command`` (SpecError for what cannot be read or wrapped)."""
    text = " ".join(line.strip().split())
    m = re.match(r"^bayes\s*", text)
    if not m:
        raise SpecError(f"{text!r} does not start with the bayes prefix")
    rest = text[m.end():]
    colon = _top_level_colon(rest)
    if colon < 0:
        raise SpecError("the bayes prefix needs a colon before the command: "
                        "'bayes: mixed y x || id:' or 'bayes, nchains(4): melogit y x || id:'")
    head, command = rest[:colon].strip(), rest[colon + 1:].strip()
    if head and head.split()[0] in WRAPPABLE:
        raise SpecError(f"the bayes prefix needs a colon before the command: 'bayes: {rest}'")
    if head and not head.startswith(","):
        raise SpecError(f"cannot read {head!r} after bayes; options follow a comma: "
                        "'bayes, mcmcsize(2000): ...'")
    words = command.split()
    if not words:
        raise SpecError("bayes: needs an estimation command after the colon")
    if words[0] not in WRAPPABLE:
        raise SpecError(f"bayes: cannot wrap {words[0]!r}; it wraps "
                        f"{', '.join(WRAPPABLE)}")
    prefix = Prefix(command)
    for token in _tokens(head.lstrip(",")):
        _apply(prefix, token)
    return prefix


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"{option}({text}) needs a number") from None


def _apply(prefix: Prefix, token: str) -> None:
    m = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?", token, flags=re.S)
    if not m:
        raise SpecError(f"cannot read bayes option {token!r}")
    name, arg = m.group(1).lower(), m.group(2)
    full = next((o for o, (short, _) in OPTIONS.items()
                 if o.startswith(name) and name.startswith(short)), None)
    if full is None:
        raise SpecError(f"unknown bayes option {token!r}; bayes takes "
                        f"{', '.join(o + '()' for o in OPTIONS if OPTIONS[o][1] or o == 'prior')}")
    if full in ("dots", "nodots", "adaptation"):
        return  # display and Metropolis–Hastings tuning: nothing to do for NUTS
    if arg is None:
        raise SpecError(f"bayes option {full}() needs an argument")
    keyword = OPTIONS[full][1]
    if full == "level":
        prefix.level = _number(arg, full)
    elif keyword is not None:
        value = _number(arg, full)
        if not value.is_integer():
            raise SpecError(f"{full}({arg}) must be a whole number")
        prefix.settings[keyword] = int(value)
    elif full == "prior":
        braces = re.match(r"\s*(?:\{[^{}]*\}\s*)*", arg).end()  # {Sigma_U,m} keeps its comma
        ref, sep, dist = arg[:braces], arg[braces:braces + 1], arg[braces + 1:]
        sep = sep if sep == "," else ""
        ref_m = re.fullmatch(r"\s*(\{[^{}]*\}(?:\s*\{[^{}]*\})*)\s*", ref)
        if not sep or not ref_m:
            raise SpecError(f"prior({arg}) must name parameters in braces and a distribution: "
                            "prior({y:x1}, normal(0, 100))")
        for one in re.findall(r"\{[^{}]*\}", ref_m.group(1)):
            prefix.priors[one] = dist.strip()
    elif full == "normalprior":
        prefix.default_normal_sd = _number(arg, full)
    elif full == "igammaprior":
        parts = arg.replace(",", " ").split()
        if len(parts) != 2:
            raise SpecError(f"igammaprior({arg}) needs a shape and a scale: igammaprior(0.01 0.01)")
        prefix.default_igamma = (_number(parts[0], full), _number(parts[1], full))
    elif full == "iwishartprior":
        prefix.default_iwishart_df = _number(arg.split()[0], full)
    elif full == "initial":
        pairs = re.findall(r"(\{[^{}]*\})\s*([-+.\deE]+)", arg)
        if not pairs:
            raise SpecError(f"initial({arg}) must list parameters and values: "
                            "initial({y:x1} 0.5 {y:_cons} 1)")
        prefix.initial.update({ref: _number(value, full) for ref, value in pairs})
