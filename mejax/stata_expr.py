"""Stata expressions, evaluated column-wise on a DataFrame (never Python ``eval``).

``evaluate("ln(x) + 2*(g == 3) if", ...)`` understands what do-files write in
``generate``, ``replace``, ``if`` qualifiers and ``display``: numbers, strings,
missing ``.`` (and ``.a``-``.z``), variables (unique abbreviations allowed),
``_n``, ``_N``, ``x[_n-1]`` subscripts, ``+ - * / ^``, comparisons
``== != ~= < <= > >=``, ``& | ! ~`` and the functions in :data:`FUNCTIONS`.

Stata's rules are kept: missing is larger than every number in comparisons,
arithmetic with missing (or dividing by zero) gives missing, a missing value
is *true* in ``&``/``|``, and ``-2^2`` is ``-4``. Results are numpy arrays of
length ``_N`` (or scalars without data).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from .spec.model import SpecError

__all__ = ["ExprContext", "ExprError", "evaluate", "resolve_variable", "column_values"]


class ExprError(SpecError):
    """An expression that cannot be parsed or evaluated; ``rc`` is Stata's return code."""

    def __init__(self, message: str, rc: int = 198):
        super().__init__(message)
        self.rc = rc


@dataclass
class ExprContext:
    """What names in an expression refer to.

    ``frame`` holds the variables (None: no data, scalars only); ``scalars``
    Stata's ``_rc`` and friends; ``lookups`` resolve ``_b[...]``, ``_se[...]``,
    ``e(...)`` and ``r(...)`` (each a function of the text inside the brackets);
    ``rng`` draws ``runiform()``/``rnormal()``.
    """

    frame: pd.DataFrame | None = None
    scalars: dict = field(default_factory=dict)
    lookups: dict[str, Callable[[str], object]] = field(default_factory=dict)
    rng: np.random.Generator | None = None

    @property
    def n(self) -> int | None:
        return None if self.frame is None else len(self.frame)


# ---- tokens --------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<special>(?:_b|_se)\s*\[[^\]]*\]|\b[er]\(\s*\w*\s*\))
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<missing>\.[a-z]?(?![\w.]))
  | (?P<str>"[^"]*")
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>==|!=|~=|>=|<=|[-+*/^<>&|!~(),\[\]=])
""", re.X)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"cannot parse {text[pos:]!r} in expression {text!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group(0)))
    return tokens


# ---- parser (precedence climbing, Stata's order) ----------------------------------------------
# lowest to highest: | & comparisons +- */ unary-minus ^ !
_BINARY = {"|": 1, "&": 2, "==": 3, "!=": 3, "~=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
           "+": 4, "-": 4, "*": 5, "/": 5, "^": 7}
_UNARY_MINUS = 6
_NOT = 8


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            found = "the end" if tok is None else repr(tok[1])
            raise ExprError(f"expected {value or 'a value'} but found {found} in {self.text!r}")
        self.i += 1
        return tok

    def parse(self):
        if not self.tokens:
            raise ExprError("empty expression")
        node = self.expr(0)
        if self.peek() is not None:
            tok = self.peek()[1]
            hint = " (use == to compare)" if tok == "=" else ""
            raise ExprError(f"unexpected {tok!r} in expression {self.text!r}{hint}")
        return node

    def expr(self, min_prec: int):
        """Operators of precedence ``min_prec`` or higher, left-associative."""
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "op" or _BINARY.get(tok[1], 0) < max(min_prec, 1):
                return left
            self.i += 1
            left = ("bin", tok[1], left, self.expr(_BINARY[tok[1]] + 1))

    def unary(self):
        tok = self.peek()
        if tok is not None and tok[1] in ("!", "~"):
            self.i += 1
            return ("not", self.expr(_NOT + 1))
        if tok is not None and tok[1] in ("-", "+"):
            self.i += 1
            operand = self.expr(_UNARY_MINUS + 1)
            return ("neg", operand) if tok[1] == "-" else operand
        return self.postfix()

    def postfix(self):
        node = self.atom()
        tok = self.peek()
        if tok is not None and tok[1] == "[" and node[0] in ("var", "n", "N"):
            self.i += 1
            index = self.expr(0)
            self.take("]")
            node = ("sub", node, index)
        return node

    def atom(self):
        kind, value = self.take()
        if kind == "num":
            return ("num", float(value))
        if kind == "missing":
            return ("num", np.nan)
        if kind == "str":
            return ("str", value[1:-1])
        if kind == "special":
            m = re.fullmatch(r"(_b|_se|e|r)\s*[\[(]\s*(.*?)\s*[\])]", value)
            return ("lookup", m.group(1), m.group(2))
        if kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                return self.call(value)
            if value == "_n":
                return ("n",)
            if value == "_N":
                return ("N",)
            return ("var", value)
        if value == "(":
            node = self.expr(0)
            self.take(")")
            return node
        raise ExprError(f"unexpected {value!r} in expression {self.text!r}")

    def call(self, name: str):
        self.take("(")
        args = []
        if self.peek() is not None and self.peek()[1] == ")":
            self.i += 1
            return ("call", name, args)
        while True:
            args.append(self.expr(0))
            kind, value = self.take()
            if value == ")":
                return ("call", name, args)
            if value != ",":
                raise ExprError(f"expected ',' or ')' in {name}() in {self.text!r}")


# ---- values ----------------------------------------------------------------------------------
def _is_str(value) -> bool:
    return isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object)


def _num(value, what: str = "expression"):
    if _is_str(value):
        raise ExprError(f"type mismatch: {what} needs numbers, got a string", rc=109)
    return value


def _truth(value) -> np.ndarray:
    """Stata's truth: nonzero (missing included) is true."""
    return np.asarray(_num(value), dtype=float) != 0


def _clean(value):
    """Non-finite arithmetic results are missing, as in Stata."""
    arr = np.asarray(value, dtype=float)
    out = np.where(np.isfinite(arr), arr, np.nan)
    return out if out.ndim else float(out)


def _cmp_key(value):
    if _is_str(value):
        return value
    arr = np.asarray(value, dtype=float)
    return np.where(np.isnan(arr), np.inf, arr)


_COMPARE = {"==": np.equal, "!=": np.not_equal, "~=": np.not_equal, "<": np.less,
            "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _binary(op: str, a, b):
    if op in _COMPARE:
        if _is_str(a) != _is_str(b):
            raise ExprError("type mismatch: cannot compare a string with a number", rc=109)
        return _COMPARE[op](_cmp_key(a), _cmp_key(b)).astype(float)
    if op == "&":
        return (_truth(a) & _truth(b)).astype(float)
    if op == "|":
        return (_truth(a) | _truth(b)).astype(float)
    if op == "+" and _is_str(a) and _is_str(b):
        return np.char.add(np.asarray(a, dtype=str), np.asarray(b, dtype=str)).astype(object)
    a, b = _num(a), _num(b)
    with np.errstate(all="ignore"):
        if op == "+":
            return _clean(np.add(a, b))
        if op == "-":
            return _clean(np.subtract(a, b))
        if op == "*":
            return _clean(np.multiply(a, b))
        if op == "/":
            return _clean(np.divide(a, b))
        return _clean(np.power(a, b))


# ---- functions -------------------------------------------------------------------------------
def _round(x, unit=1.0):
    with np.errstate(all="ignore"):
        return _clean(np.sign(x) * np.floor(np.abs(x) / unit + 0.5) * unit)


def _missing(*args):
    out = np.zeros((), dtype=bool)
    for a in args:
        out = out | ((np.asarray(a) == "") if _is_str(a) else np.isnan(np.asarray(a, float)))
    return out.astype(float)


def _cond(c, a, b, m=None):
    c_arr = np.asarray(_num(c), dtype=float)
    out = np.where(c_arr != 0, a, b)
    if m is not None:
        out = np.where(np.isnan(c_arr), m, out)
    return out.astype(object) if _is_str(a) else _clean(out)


def _rowstat(fn):
    def stat(*args):
        stacked = np.stack(np.broadcast_arrays(*[np.asarray(_num(a), float) for a in args]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all missing: missing
            return _clean(fn(stacked, axis=0))
    return stat


def _inlist(z, *values):
    out = np.zeros(np.shape(z), dtype=bool)
    for v in values:
        out = out | (np.asarray(_cmp_key(z)) == _cmp_key(v))
    return out.astype(float)


def _inrange(z, a, b):
    z = np.asarray(_num(z), float)
    a = np.where(np.isnan(np.asarray(a, float)), -np.inf, a)
    b = np.where(np.isnan(np.asarray(b, float)), np.inf, b)
    return ((z >= a) & (z <= b) & ~np.isnan(z)).astype(float)


def _math(fn):
    def apply(*args):
        with np.errstate(all="ignore"):
            return _clean(fn(*[np.asarray(_num(a), float) for a in args]))
    return apply


def _strfn(fn):
    def apply(s):
        if not _is_str(s):
            raise ExprError("type mismatch: a string function needs a string", rc=109)
        return np.vectorize(fn, otypes=[object])(s) if isinstance(s, np.ndarray) else fn(s)
    return apply


def _real(s):
    def one(x):
        try:
            return float(x)
        except ValueError:
            return np.nan
    if not _is_str(s):
        raise ExprError("type mismatch: real() needs a string", rc=109)
    return np.vectorize(one, otypes=[float])(s) if isinstance(s, np.ndarray) else one(s)


FUNCTIONS: dict[str, Callable] = {
    "ln": _math(np.log), "log": _math(np.log), "log10": _math(np.log10),
    "exp": _math(np.exp), "sqrt": _math(np.sqrt), "abs": _math(np.abs),
    "floor": _math(np.floor), "ceil": _math(np.ceil), "int": _math(np.trunc),
    "sign": _math(np.sign), "sin": _math(np.sin), "cos": _math(np.cos), "tan": _math(np.tan),
    "atan": _math(np.arctan), "round": lambda x, y=1.0: _round(_num(x), _num(y)),
    "mod": _math(lambda x, y: x - y * np.floor(x / y)),
    "invlogit": _math(special.expit), "logit": _math(special.logit),
    "normal": _math(special.ndtr), "invnormal": _math(special.ndtri),
    "normalden": _math(lambda z, m=0.0, s=1.0: np.exp(-0.5 * ((z - m) / s) ** 2)
                       / (s * np.sqrt(2 * np.pi))),
    "lngamma": _math(special.gammaln),
    "chi2tail": _math(lambda df, x: special.chdtrc(df, x)),
    "ttail": _math(lambda df, t: special.stdtr(df, -t)),
    "missing": _missing, "mi": _missing, "cond": _cond,
    "min": _rowstat(np.nanmin), "max": _rowstat(np.nanmax),
    "inlist": _inlist, "inrange": _inrange,
    "strlen": _strfn(len), "upper": _strfn(str.upper), "lower": _strfn(str.lower),
    "trim": _strfn(str.strip), "real": _real,
}
_RANDOM = ("runiform", "rnormal")


# ---- evaluation ----------------------------------------------------------------------------
def column_values(col: pd.Series) -> np.ndarray:
    """A column as Stata sees it: float (missing = nan) or strings (missing = "")."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if pd.api.types.is_numeric_dtype(cats.dtype):
            return col.astype(float).to_numpy()
        return col.astype(object).where(col.notna(), "").astype(str).to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=float, na_value=np.nan)
    return col.where(col.notna(), "").astype(str).to_numpy(dtype=object)


def resolve_variable(name: str, columns) -> str:
    """A variable name or its unique abbreviation (Stata's varabbrev)."""
    columns = [str(c) for c in columns]
    if name in columns:
        return name
    matches = [c for c in columns if c.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ExprError(f"{name} ambiguous abbreviation ({', '.join(matches)})", rc=111)
    raise ExprError(f"variable {name} not found", rc=111)


class _Evaluator:
    def __init__(self, ctx: ExprContext):
        self.ctx = ctx
        self.n = ctx.n

    def rows(self) -> np.ndarray:
        if self.n is None:
            raise ExprError("_n and _N need data in memory")
        return np.arange(1, self.n + 1, dtype=float)

    def ev(self, node):
        kind = node[0]
        if kind in ("num", "str"):
            return node[1]
        if kind == "n":
            return self.rows()
        if kind == "N":
            self.rows()
            return float(self.n)
        if kind == "neg":
            return _clean(-np.asarray(_num(self.ev(node[1])), float))
        if kind == "not":
            return (~_truth(self.ev(node[1]))).astype(float)
        if kind == "bin":
            return _binary(node[1], self.ev(node[2]), self.ev(node[3]))
        if kind == "var":
            return self.variable(node[1])
        if kind == "sub":
            return self.subscript(node[1], node[2])
        if kind == "lookup":
            return self.lookup(node[1], node[2])
        return self.call(node[1], node[2])

    def variable(self, name: str):
        if name in self.ctx.scalars:
            return self.ctx.scalars[name]
        if self.ctx.frame is None:
            raise ExprError(f"{name} not found (no variables are defined)", rc=111)
        col = resolve_variable(name, self.ctx.frame.columns)
        return column_values(self.ctx.frame[col])

    def subscript(self, base, index):
        values = self.ev(base)
        idx = np.asarray(_num(self.ev(index)), dtype=float)
        arr = np.broadcast_to(np.asarray(values), (self.n,))
        idx = np.broadcast_to(idx, (self.n,))
        ok = np.isfinite(idx) & (idx >= 1) & (idx <= self.n)
        pos = np.where(ok, np.trunc(np.where(ok, idx, 1)) - 1, 0).astype(int)
        taken = arr[pos]
        fill = "" if _is_str(values) else np.nan
        return np.where(ok, taken, fill).astype(object if _is_str(values) else float)

    def lookup(self, kind: str, key: str):
        fn = self.ctx.lookups.get(kind)
        if fn is None:
            raise ExprError(f"{kind}[{key}] is not available (no estimates)", rc=301)
        return fn(key)

    def call(self, name: str, args: list):
        if name in _RANDOM:
            return self.random(name, [self.ev(a) for a in args])
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ExprError(f"unknown function {name}(); available: "
                            f"{', '.join(sorted(FUNCTIONS) + list(_RANDOM))}", rc=133)
        values = [self.ev(a) for a in args]
        try:
            return fn(*values)
        except TypeError:
            raise ExprError(f"{name}(): wrong number of arguments ({len(values)})") from None

    def random(self, name: str, args: list):
        rng = self.ctx.rng if self.ctx.rng is not None else np.random.default_rng()
        size = () if self.n is None else (self.n,)
        if name == "runiform":
            low, high = (args + [0.0, 1.0][len(args):])[:2] if args else (0.0, 1.0)
            return low + (high - low) * rng.random(size)
        mean, sd = (list(args) + [0.0, 1.0][len(args):])[:2]
        return mean + sd * rng.standard_normal(size)


def evaluate(text: str, ctx: ExprContext | None = None):
    """Evaluate a Stata expression; an array of ``_N`` values, or a scalar without data."""
    ctx = ctx or ExprContext()
    tree = _Parser(text).parse()
    value = _Evaluator(ctx).ev(tree)
    if ctx.n is not None:
        if isinstance(value, str):
            return np.full(ctx.n, value, dtype=object)
        arr = np.asarray(value)
        if arr.ndim == 0:
            return np.full(ctx.n, arr.item(), dtype=object if _is_str(value) else float)
        return arr
    return value
