"""lme4-style formulas: ``y ~ x1 * C(a) + np.log(x2) + (1 + x1 | id) + (1 | g1/g2)``.

Fixed part: numeric and categorical variables (strings, categoricals and
booleans are factors; ``C(x)`` forces one), interactions ``a:b`` and
``a*b``, transforms written as Python expressions (``np.log(x)``,
``I(x**2)``), ``0 +`` / ``- 1`` to drop the intercept. Random parts:
``(effects | g)`` (unstructured, as lme4), ``(effects || g)`` (independent),
nested ``g1/g2`` and ``g1:g2``, crossed terms side by side.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from itertools import combinations

from .model import LinearPart, ModelSpec, RandomPart, SpecError, Term, Var

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def split_top(text: str, ops: tuple[str, ...]) -> list[tuple[str, str]]:
    """Split ``text`` at operators outside parentheses; returns (op, piece) pairs.

    The first piece has op "". Longer operators win (``||`` before ``|``,
    ``**`` is never a split point for ``*``).
    """
    pieces: list[tuple[str, str]] = []
    depth, start, op_before, i = 0, 0, "", 0
    ops_sorted = sorted(ops, key=len, reverse=True)
    while i < len(text):
        ch = text[i]
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


def _parse_var(token: str) -> Var:
    token = token.strip()
    if not token:
        raise SpecError("empty variable name in formula")
    match = re.fullmatch(r"C\((.*)\)", token)
    if match:
        inner = match.group(1).strip()
        if not _NAME.match(inner):
            raise SpecError(f"C() takes a column name, got {inner!r}")
        return Var(inner, kind="cat")
    if _NAME.match(token):
        return Var(token)
    if "^" in token:
        fix = token.replace("^", "**")
        fix = fix if fix.startswith("I(") else f"I({fix})"
        raise SpecError(f"{token!r}: '^' is not a power in Python expressions; write {fix!r} "
                        "(or add the squared column to the data)")
    try:
        ast.parse(token, mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot parse expression {token!r} in formula") from None
    return Var(token, kind="num", expr=True)


def _expand_product(piece: str) -> list[Term]:
    factors = [p.strip() for _, p in split_top(piece, ("*",))]
    groups = [tuple(_parse_var(v) for _, v in split_top(f, (":",))) for f in factors]
    terms = []
    for size in range(1, len(groups) + 1):
        for combo in combinations(groups, size):
            terms.append(Term(tuple(v for g in combo for v in g)))
    return terms


def parse_linear(text: str, default_intercept: bool = True) -> LinearPart:
    """Parse a sum of fixed terms, e.g. ``1 + x + a*b``."""
    intercept = default_intercept
    terms: list[Term] = []
    for op, piece in split_top(text, ("+", "-")):
        piece = piece.strip()
        if not piece:
            if op == "" and text.strip().startswith("-"):
                continue
            raise SpecError(f"empty term in {text!r}")
        if piece in ("0", "1"):
            intercept = (piece == "1") != (op == "-")
            continue
        if op == "-":
            drop = {t.key() for t in _expand_product(piece)}
            terms = [t for t in terms if t.key() not in drop]
            continue
        for term in _expand_product(piece):
            if term.key() not in {t.key() for t in terms}:
                terms.append(term)
    return LinearPart(intercept, tuple(terms))


def _parse_random(inner: str) -> list[RandomPart]:
    parts = split_top(inner, ("||", "|"))
    if len(parts) != 2:
        raise SpecError(f"random term ({inner}) needs one '|' or '||'")
    (_, lhs), (bar, rhs) = parts
    effects = parse_linear(lhs)
    covariance = "independent" if bar == "||" else "unstructured"
    nest = [p.strip() for _, p in split_top(rhs, ("/",))]
    out = []
    for depth in range(1, len(nest) + 1):
        chain = nest[:depth]
        group: list[str] = []
        for level in chain:
            for _, name in split_top(level, (":",)):
                name = name.strip()
                if not _NAME.match(name):
                    raise SpecError(f"grouping factor {name!r} must be a column name")
                group.append(name)
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
    if not _NAME.match(lhs):
        raise SpecError(f"response {lhs!r} must be a column name")
    fixed_text: list[str] = []
    random: list[RandomPart] = []
    for op, piece in split_top(rhs, ("+", "-")):
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
            fixed_text.append(f"{op} {stripped}" if fixed_text else f"{op}{stripped}")
    fixed = parse_linear(" ".join(fixed_text) if fixed_text else "1")
    return ModelSpec(lhs, fixed, tuple(random), "r")
