"""Stata's command syntax around expressions: options, ``if``/``in`` qualifiers, varlists.

``command [varlist] [if exp] [in range] [, options]`` is split here once, so
every data command and the estimation commands read qualifiers the same way.
"""

from __future__ import annotations

import fnmatch
import re

import numpy as np

from .spec.formula import split_top
from .stata_expr import ExprContext, ExprError, evaluate, resolve_variable

__all__ = ["split_options", "split_qualifiers", "row_mask", "expand_varlist", "in_range_mask"]


def _top_level(text: str):
    """(index, char) of characters outside quotes, parentheses and brackets."""
    depth, quoted = 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0:
            yield i, ch


def split_options(text: str) -> tuple[str, str]:
    """``body, options`` at the first top-level comma."""
    for i, ch in _top_level(text):
        if ch == ",":
            return text[:i].strip(), text[i + 1:].strip()
    return text.strip(), ""


def split_qualifiers(body: str) -> tuple[str, str | None, str | None]:
    """``head if exp in range`` -> (head, exp, range); either qualifier may come first."""
    marks = []
    top = dict(_top_level(body))
    for m in re.finditer(r"(?<![\w.])(if|in)(?![\w.\[(])", body):
        if m.start() in top:
            marks.append((m.start(), m.group(1)))
    if not marks:
        return body.strip(), None, None
    found: dict[str, str] = {}
    head = body[: marks[0][0]].strip()
    for k, (start, word) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else len(body)
        if word in found:
            raise ExprError(f"{word} may only be given once", rc=198)
        found[word] = body[start + len(word): end].strip()
        if not found[word]:
            raise ExprError(f"'{word}' needs {'an expression' if word == 'if' else 'a range'}")
    return head, found.get("if"), found.get("in")


def in_range_mask(text: str, n: int) -> np.ndarray:
    """Rows of Stata's ``in #``, ``in #/#`` (``f``, ``l``, negative counts from the end)."""
    def position(token: str) -> int:
        token = token.strip().lower()
        if token in ("f", "first"):
            return 1
        if token in ("l", "last"):
            return n
        if not re.fullmatch(r"-?\d+", token):
            raise ExprError(f"in {text}: invalid range (use in #, in #/#, in f/l)")
        value = int(token)
        return n + value + 1 if value < 0 else value

    lo_text, sep, hi_text = text.partition("/")
    lo = position(lo_text)
    hi = position(hi_text) if sep else lo
    if lo < 1 or hi > n or lo > hi:
        raise ExprError(f"in {text}: observation numbers out of range (1 to {n})", rc=198)
    mask = np.zeros(n, dtype=bool)
    mask[lo - 1: hi] = True
    return mask


def row_mask(ctx: ExprContext, if_exp: str | None, in_text: str | None) -> np.ndarray:
    """Rows selected by ``if`` (true = nonzero, missing counts as true) and ``in``."""
    n = ctx.n or 0
    mask = np.ones(n, dtype=bool)
    if in_text is not None:
        mask &= in_range_mask(in_text, n)
    if if_exp is not None:
        value = evaluate(if_exp, ctx)
        if isinstance(value, str) or np.asarray(value).dtype == object:
            raise ExprError(f"if {if_exp}: type mismatch (a string is not a condition)", rc=109)
        mask &= np.asarray(value, dtype=float) != 0
    return mask


def expand_varlist(text: str | list[str], columns, allow_empty: bool = False) -> list[str]:
    """A Stata varlist: names, abbreviations, ``x*``/``x?`` wildcards, ``a-b`` ranges, ``_all``."""
    tokens = text.split() if isinstance(text, str) else list(text)
    columns = [str(c) for c in columns]
    out: list[str] = []
    for token in tokens:
        if token in ("_all", "*"):
            names = columns
        elif "*" in token or "?" in token:
            names = [c for c in columns if fnmatch.fnmatchcase(c, token)]
            if not names:
                raise ExprError(f"variable {token} not found", rc=111)
        elif "-" in token:
            first, _, last = token.partition("-")
            a, b = (columns.index(resolve_variable(v, columns)) for v in (first, last))
            if a > b:
                raise ExprError(f"{token}: {first} comes after {last} in the data", rc=198)
            names = columns[a: b + 1]
        else:
            names = [resolve_variable(token, columns)]
        out.extend(n for n in names if n not in out)
    if not out and not allow_empty:
        raise ExprError("varlist required", rc=100)
    return out


def estimation_qualifiers(command: str) -> tuple[str, str | None, str | None]:
    """``mixed y x if exp in range || id:`` -> (the command without them, exp, range).

    Stata puts ``if``/``in`` at the end of the fixed-effects equation.
    """
    pieces = split_top(command, ("||",))
    body, opts = split_options(pieces[0][1])
    head, if_exp, in_text = split_qualifiers(body)
    if if_exp is None and in_text is None:
        return command, None, None
    first = head + (f", {opts}" if opts else "")
    return first + "".join(f" {op}{piece}" for op, piece in pieces[1:]), if_exp, in_text
