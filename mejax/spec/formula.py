"""lme4-style formulas: ``y ~ x1 * C(a) + scale(x2) + (1 + x1 | id) + (1 | g1/g2)``.

The fixed part and the effects of each random term are formulaic's grammar
(:mod:`mejax.spec.formulaic_part` codes them): factors (strings, categoricals
and booleans; ``C(x)`` forces one, ``C(a, Sum)``, ``C(a, Treatment(reference="b"))``,
``C(a, Helmert)``), ``a:b``, ``a*b``, ``np.log(x)``, ``I(x**2)``, ``scale(x)``,
``center(x)``, ``poly(x, 2)``, ``bs(x, df=4)``, ``cr(x, df=5)``, ``Q("my x")`` and
backticks, ``0 +`` / ``- 1``; ``offset(z)`` (GLMMs) enters with coefficient one. The random
parts are mejax's own: ``(effects | g)`` (unstructured, as lme4), ``(effects || g)``
(independent), nested ``g1/g2`` and ``g1:g2``, crossed terms side by side.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .formulaic_part import FormulaPart, formulaic, parse_check
from .model import ModelSpec, RandomPart, SpecError

_NAME = re.compile(r"^(?:[^\W\d]|[._])[\w.]*$")
_QUOTED = re.compile(r"^(?:`(.+)`|Q\(\s*(['\"])(.+)\2\s*\))$")


def split_words(text: str, opening: str = "(", closing: str = ")") -> tuple[list[str], int]:
    """Words separated by whitespace outside brackets, and the depth left at the end.

    ``opening``/``closing`` are the bracket characters that keep a word whole
    (``level(95)``, ``{y:x1}``, ``U[plot < zone]``); a depth other than 0 means
    they were unbalanced, for the caller to report in its own words.
    """
    words, depth, current = [], 0, ""
    for ch in text:
        depth += ch in opening
        depth -= ch in closing
        if ch.isspace() and depth == 0:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
    return words + ([current] if current else []), depth


def split_top(text: str, ops: tuple[str, ...], quotes: bool = False) -> list[tuple[str, str]]:
    """Split ``text`` at operators outside parentheses; returns (op, piece) pairs.

    The first piece has op "". Longer operators win (``||`` before ``|``,
    ``**`` is never a split point for ``*``). With ``quotes``, nothing inside
    quotes or backticks is a split point (formula column names).
    """
    pieces: list[tuple[str, str]] = []
    depth, start, op_before, i = 0, 0, "", 0
    ops_sorted = sorted(ops, key=len, reverse=True)
    while i < len(text):
        ch = text[i]
        if quotes and ch in "'\"`":
            close = text.find(ch, i + 1)
            if close == -1:
                raise SpecError(f"unclosed {ch} in {text!r}")
            i = close + 1
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ')' at position {i} in {text!r}")
        elif depth == 0:
            if text.startswith("**", i):
                i += 2
                continue
            for op in ops_sorted:
                if text.startswith(op, i):
                    pieces.append((op_before, text[start:i]))
                    op_before, start = op, i + len(op)
                    i += len(op) - 1
                    break
        i += 1
    if depth != 0:
        raise SpecError(f"unbalanced '(' in {text!r}")
    pieces.append((op_before, text[start:]))
    return pieces


def column_name(text: str, what: str) -> str:
    """A column name as written: plain, in backticks or in ``Q("...")``."""
    text = text.strip()
    quoted = _QUOTED.match(text)
    if quoted:
        return quoted.group(1) or quoted.group(3)
    if not _NAME.match(text):
        raise SpecError(f"{what} {text!r} must be a column name (write `my name` or "
                        "Q(\"my name\") for names with spaces or symbols)")
    return text


def _check_power(piece: str) -> None:
    """``^`` is formulaic's interaction power ``(a + b)^2``; elsewhere a slip for ``**``."""
    if "^" not in piece or re.fullmatch(r"\(.*\)\s*\^\s*\d+", piece.strip(), re.S):
        return
    fix = piece.strip().replace("^", "**")
    fix = fix if fix.startswith("I(") else f"I({fix})"
    raise SpecError(f"{piece.strip()!r}: '^' is not a power in Python expressions; write "
                    f"{fix!r} (or add the squared column to the data)")


_OPERATORS = ("+", "-", "*", ":", "/", "~")


def _spellings(text: str) -> tuple[tuple[str, str], ...]:
    """(formulaic's normalised spelling, as the user wrote it) of each term (``I(x**2)``)."""
    out: dict[str, str] = {}
    pending = [text]
    while pending:
        piece = pending.pop().strip()
        piece = re.sub(r"^\((.*)\)\s*\^\s*\d+$", r"\1", piece, flags=re.S)
        pieces = [p.strip() for _, p in split_top(piece, _OPERATORS, quotes=True)]
        if len(pieces) > 1:
            pending.extend(pieces)
            continue
        if piece.startswith("(") and piece.endswith(")"):
            pending.append(piece[1:-1])
            continue
        try:
            normalised = formulaic.parser.algos.sanitize_tokens.sanitize_python_code(piece)
        except (SyntaxError, ValueError):
            continue
        if normalised != piece:
            out.setdefault(normalised, piece)
    return tuple(out.items())


def _linear_part(text: str, where: str) -> FormulaPart:
    pieces = split_top(text, ("+", "-"), quotes=True)
    for op, piece in pieces:
        if not piece.strip() and not (op == "" and text.strip().startswith("-")):
            raise SpecError(f"empty term in {where}: {text.strip()!r}")
        _check_power(piece)
    parse_check(text)
    return FormulaPart(text.strip(), _spellings(text))


def _parse_random(inner: str) -> list[RandomPart]:
    parts = split_top(inner, ("||", "|"))
    if len(parts) != 2:
        raise SpecError(f"random term ({inner}) needs one '|' or '||'")
    (_, lhs), (bar, rhs) = parts
    if not lhs.strip():
        raise SpecError(f"random term ({inner.strip()}) has no effects left of '{bar}': "
                        f"write (1 {bar} {rhs.strip()}) for a random intercept")
    effects = _linear_part(lhs, f"({inner.strip()})")
    covariance = "independent" if bar == "||" else "unstructured"
    nest = [p.strip() for _, p in split_top(rhs, ("/",))]
    out = []
    for depth in range(1, len(nest) + 1):
        chain = nest[:depth]
        group: list[str] = []
        for level in chain:
            for _, name in split_top(level, (":",)):
                group.append(column_name(name, "grouping factor"))
        label = ":".join(reversed(chain)) if depth > 1 else chain[0]
        out.append(RandomPart(tuple(group), effects, covariance, label))
    return out


@lru_cache(maxsize=256)
def parse_formula(formula: str) -> ModelSpec:
    """Parse an lme4-style formula into a :class:`ModelSpec`."""
    if formula.count("~") != 1:
        raise SpecError(f"formula must contain exactly one '~': {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise SpecError("formula has no response on the left of '~'")
    lhs = column_name(lhs, "response")
    fixed_text: list[str] = []
    random: list[RandomPart] = []
    offset = None
    for op, piece in split_top(rhs, ("+", "-"), quotes=True):
        stripped = piece.strip()
        is_random = (
            stripped.startswith("(") and stripped.endswith(")")
            and len(split_top(stripped[1:-1], ("||", "|"))) > 1
        )
        if is_random:
            if op == "-":
                raise SpecError(f"cannot subtract a random term: {stripped!r}")
            random.extend(_parse_random(stripped[1:-1]))
        else:
            if not stripped and op == "" and rhs.strip().startswith("-"):
                continue
            if not stripped:
                raise SpecError(f"empty term in formula {formula!r}")
            found = re.fullmatch(r"offset\((.*)\)", stripped, re.S)
            if found:
                if op == "-" or offset is not None:
                    raise SpecError(f"{formula!r}: give one offset(), added to the formula")
                offset = column_name(found.group(1), "offset")
                continue
            fixed_text.append(f"{op} {stripped}" if fixed_text else f"{op}{stripped}")
    fixed = _linear_part(" ".join(fixed_text) if fixed_text else "1", "the fixed part")
    return ModelSpec(lhs, fixed, tuple(random), "r", offset=offset)
