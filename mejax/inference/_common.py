"""Helpers shared by the post-estimation commands: output objects, names, df, expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import special

from ..spec.design import column_aliases
from ..spec.model import SpecError
from ..text import general
from . import dof

LINE = 78


class PostResult(dict):
    """A post-estimation result: a plain dict of numbers plus its Stata-layout text.

    ``str(res)`` (and the REPL) show the Stata text; the numbers are the dict items.
    """

    def __init__(self, values: dict, text: str):
        super().__init__(values)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython
        printer.text(self.text)


class HypothesisError(SpecError):
    """A hypothesis, contrast or margin that cannot be formed from the fitted model."""


# ---- degrees of freedom ------------------------------------------------------------------
def residual_df(result, weights: np.ndarray | None = None) -> float | None:
    """Denominator df for a test whose rows load on coefficients with ``weights``.

    Uses ``result.df`` when a dfmethod() set it (one value per coefficient);
    without it returns None (chi2/z).
    For per-coefficient df a linear combination takes the smallest df of the
    coefficients it involves, a conservative choice.
    """
    df = result.df  # a Series (one df per coefficient) or None
    if df is None:
        return None
    names = list(result.fixef.index)
    values = np.asarray(df.reindex(names), dtype=float)
    if weights is not None:  # the coefficients' columns (GLMM margins load on θ too)
        used = np.abs(np.atleast_2d(weights)[:, : len(names)]).sum(axis=0) > 0
        values = values[used] if used.any() else values
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min()) if values.size else None


def small_sample_f(result, R: np.ndarray, r: np.ndarray) -> dict | None:
    """F test of ``R b = r`` with the fit's dfmethod (KR / Satterthwaite denominators).

    None when the result has no small-sample machinery (then callers use
    :func:`residual_df` or chi2). Other dfmethods use the smallest df involved.
    """
    ss = result.small_sample
    if ss is None or ss.method not in ("kroger", "satterthwaite"):
        return None
    beta = result.fixef.to_numpy()
    shift, *_ = np.linalg.lstsq(R, r, rcond=None)  # R (b - shift) = R b - r
    test_fn = dof.kr_f_test if ss.method == "kroger" else dof.satterthwaite_f_test
    out = test_fn(R, beta - shift, ss.extra)
    return {"F": float(out["F"]), "df1": int(out["df1"]), "df_r": float(out["df2"]),
            "p": float(out["p"])}


def row_df(result, W: np.ndarray) -> np.ndarray | float | None:
    """Denominator df of each single linear combination (row of ``W``), or None (z)."""
    W = np.atleast_2d(W)
    if result.small_sample is not None:
        dfs = []
        for w in W:
            res = small_sample_f(result, w[None, :], np.zeros(1))
            dfs.append(res["df_r"] if res is not None else residual_df(result, w))
        if all(d is not None for d in dfs):
            return np.array(dfs, dtype=float)
    return residual_df(result, W)


def critical(level: float, df) -> float:
    """Two-sided critical value of z (df None) or t(df)."""
    q = 0.5 + level / 200
    return float(special.ndtri(q)) if df is None else special.stdtrit(df, q)


def two_sided_p(stat: np.ndarray, df) -> np.ndarray:
    stat = np.abs(np.asarray(stat, dtype=float))
    if df is None:
        return 2 * special.ndtr(-stat)
    return 2 * special.stdtr(df, -stat)


def level_text(level: float) -> str:
    return str(int(level)) if float(level).is_integer() else str(level)


# ---- coefficient names ---------------------------------------------------------------------
def intercept_name(result) -> str | None:
    names = list(result.fixef.index)
    for n in ("_cons", "(Intercept)"):
        if n in names:
            return n
    return None


def base_names(result) -> set[str]:
    """Names that refer to base levels (coefficient fixed at 0): ``1b.a`` and ``1.a``."""
    out = set()
    for col in result.design.base_columns:
        out.add(col.name)
        out.add(col.name.replace("b.", ".", 1))
    return out


def resolve_name(result, token: str) -> str | None:
    """The coefficient name ``token`` refers to; None for a base level (fixed at 0).

    Accepts Stata's spellings ``_b[x]``, ``[y]x``, ``c.x`` for ``x``, ``_cons``
    for ``(Intercept)`` and ``2bn.a``/``2b.a`` for ``2.a``.
    """
    name = token.strip()
    m = re.fullmatch(r"_b\[(.+)\]", name)
    if m:
        name = m.group(1).strip()
    m = re.fullmatch(r"\[[^\]]*\](.+)", name)
    if m:
        name = m.group(1).strip()
    m = _PLACEHOLDER.fullmatch(name)
    if m:
        name = _special_names(result)[int(m.group(1))]
    names = list(result.fixef.index)
    if name in names:
        return name
    aliases = column_aliases(result.design.fixed_part)
    if aliases.get(name) in names or aliases.get(name) in result.omitted:
        return aliases[name] if aliases[name] in names else None
    cons = intercept_name(result)
    if name in ("_cons", "(Intercept)") and cons is not None:
        return cons
    variants = {name, re.sub(r"(\d+)bn?\.", r"\1.", name), re.sub(r"^c\.", "", name),
                f"c.{name}"}
    for v in variants:
        if v in names:
            return v
    if name in base_names(result) or variants & base_names(result):
        return None
    if name in result.omitted:
        return None
    raise HypothesisError(
        f"{token.strip()} not found: it is not a coefficient of the model; "
        f"coefficients are {', '.join(names)}"
    )


_PLACEHOLDER = re.compile(r"__mejax_name_(\d+)__")
_PLAIN = re.compile(r"[\w.#]+")


def _special_names(result) -> list[str]:
    """Coefficient names (and formulaic's aliases) that the tokenizer would split, longest first."""
    names = set(result.fixef.index) | set(column_aliases(result.design.fixed_part))
    return sorted((n for n in names if not _PLAIN.fullmatch(n) and n != "(Intercept)"),
                  key=lambda n: (-len(n), n))


def protect_names(result, text: str) -> str:
    """``text`` with names such as ``scale(x)`` or ``C(a, Sum)[S.b]`` as single tokens."""
    for i, name in enumerate(_special_names(result)):
        text = text.replace(name, f" __mejax_name_{i}__ ")
    return text


def restore_names(result, text: str) -> str:
    """Undo :func:`protect_names` (for display)."""
    special = _special_names(result)
    text = _PLACEHOLDER.sub(lambda m: special[int(m.group(1))], text)
    return re.sub(r"\s+", " ", text).strip()


# ---- linear expressions in coefficients ----------------------------------------------------
_NUMBER = re.compile(r"^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TOKEN = re.compile(
    r"\s*(_b\[[^\]]+\]|\[[^\]]*\][A-Za-z0-9_.#]+|\(Intercept\)|\d+\.?\d*[eE][+-]?\d+"
    r"|[\w.#]+|[-+*/()])"
)


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise HypothesisError(f"cannot parse {text!r} at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Linear:
    """A linear form sum(coef[name] * b[name]) + const, for the tiny expression parser."""

    def __init__(self, coef: dict | None = None, const: float = 0.0):
        self.coef = dict(coef or {})
        self.const = float(const)

    def scale(self, c: float) -> _Linear:
        return _Linear({k: v * c for k, v in self.coef.items()}, self.const * c)

    def add(self, other: _Linear, sign: float = 1.0) -> _Linear:
        coef = dict(self.coef)
        for k, v in other.coef.items():
            coef[k] = coef.get(k, 0.0) + sign * v
        return _Linear(coef, self.const + sign * other.const)

    @property
    def is_const(self) -> bool:
        return all(v == 0 for v in self.coef.values())


def parse_linear(result, text: str) -> _Linear:
    """Parse a linear expression in coefficient names (``x1 + 2*x2 - 3``)."""
    tokens = _tokens(protect_names(result, text))
    if not tokens:
        raise HypothesisError("empty expression")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def expr() -> _Linear:
        value = term()
        while peek() in ("+", "-"):
            sign = 1.0 if take() == "+" else -1.0
            value = value.add(term(), sign)
        return value

    def term() -> _Linear:
        value = unary()
        while peek() in ("*", "/"):
            op = take()
            right = unary()
            if op == "*":
                if right.is_const:
                    value = value.scale(right.const)
                elif value.is_const:
                    value = right.scale(value.const)
                else:
                    raise HypothesisError(f"{text!r} is not linear in the coefficients")
            else:
                if not right.is_const or right.const == 0:
                    raise HypothesisError(f"{text!r}: can only divide by a nonzero number")
                value = value.scale(1.0 / right.const)
        return value

    def unary() -> _Linear:
        if peek() in ("+", "-"):
            sign = 1.0 if take() == "+" else -1.0
            return unary().scale(sign)
        return atom()

    def atom() -> _Linear:
        tok = peek()
        if tok is None:
            raise HypothesisError(f"{text!r} ends unexpectedly")
        take()
        if tok == "(":
            value = expr()
            if peek() != ")":
                raise HypothesisError(f"unbalanced parentheses in {text!r}")
            take()
            return value
        if tok in (")", "*", "/"):
            raise HypothesisError(f"unexpected {tok!r} in {text!r}")
        if _NUMBER.match(tok):
            return _Linear({}, float(tok))
        name = resolve_name(result, tok)
        return _Linear({} if name is None else {name: 1.0})

    value = expr()
    if pos != len(tokens):
        raise HypothesisError(f"cannot parse {text!r} near {' '.join(tokens[pos:])!r}")
    return value


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def option_items(text: str) -> list[tuple[str, str | None]]:
    """Stata options ``a b(c (d) e) f`` -> [("a", None), ("b", "c (d) e"), ("f", None)]."""
    items, pos, n = [], 0, len(text)
    while pos < n:
        if text[pos].isspace() or text[pos] == ",":
            pos += 1
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[pos:])
        if not m:
            raise HypothesisError(f"cannot parse options {text!r} at {text[pos:]!r}")
        name, pos = m.group(0), pos + m.end()
        arg = None
        if pos < n and text[pos] == "(":
            depth, start = 0, pos
            while pos < n:
                depth += text[pos] == "("
                depth -= text[pos] == ")"
                pos += 1
                if depth == 0:
                    break
            if depth:
                raise HypothesisError(f"unbalanced parentheses in options {text!r}")
            arg = text[start + 1: pos - 1].strip()
        items.append((name, arg))
    return items


def constraint_text(response: str, coef: dict, rhs: float, stata: bool = True) -> str:
    """Stata's display of a constraint: ``[y]x1 - 2*[y]x2 = 3``."""
    parts = []
    for name, c in coef.items():
        if c == 0:
            continue
        label = f"[{response}]{name}" if stata else name
        mag = abs(c)
        body = label if mag == 1 else f"{_num(mag)}*{label}"
        if not parts:
            parts.append(body if c > 0 else f"-{body}")
        else:
            parts.append(("+ " if c > 0 else "- ") + body)
    lhs = " ".join(parts) if parts else "0"
    return f"{lhs} = {_num(rhs)}"


def _num(x: float) -> str:
    return general(x, 10)


def rule(width: int = LINE) -> str:
    return "-" * width


def names_matrix(result, forms: Sequence[dict]) -> np.ndarray:
    """Rows of weights over ``result.fixef`` from dicts name -> weight."""
    names = list(result.fixef.index)
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(forms), len(names)))
    for r, form in enumerate(forms):
        for n, c in form.items():
            out[r, index[n]] += c
    return out
