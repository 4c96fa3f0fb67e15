"""The linear parts of lme4-style formulas, coded by formulaic (host side).

The fixed part and the effects inside ``( ... | g)`` are written in formulaic's
grammar: ``x + C(a, Sum) + scale(z) + bs(t, df=4) + Q("my x") + np.log(w)``.
formulaic builds the model matrix and keeps a model spec with the training
state (factor levels, ``scale`` means and sds, spline knots), so designs on
new data (predict, margins) reuse it.

Column names (one convention, lme4's where users compare): a factor coded by
treatment contrasts is the variable name followed by the level (``period2``,
``sexmale``, also for ``C(period)`` and ``C(a, Treatment(reference="b"))``);
every other column is the term as written in the formula with formulaic's
suffix (``scale(x)``, ``I(x**2)``, ``bs(x, df=4)[1]``, ``C(a, Sum)[S.b]``);
``Intercept`` is ``(Intercept)``; interactions join with ``:``. formulaic's
own spellings (``C(period)[T.2]``, ``period[T.2]``, ``I(x ** 2)``,
``Intercept``) are kept as aliases that ``test`` and ``lincom`` accept.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError
from ..lazy import lazy_module
from .columns import check_factor_levels

# What a formula may call besides formulaic's transforms (scale, center, poly, bs, cr, C, Q, ...)
NAMESPACE = {
    "np": np, "numpy": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt,
    "abs": np.abs, "log10": np.log10, "log2": np.log2,
}
# formulaic (with the scipy.sparse and scipy.linalg it imports) loads when a formula is
# first parsed or coded: a Stata command line never needs it
formulaic = lazy_module("formulaic")


@lru_cache(maxsize=1)
def _transforms() -> frozenset[str]:
    return frozenset(formulaic.transforms.TRANSFORMS) | {"C", "Q", "I"}


_INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class FormulaPart:
    """A linear part as written in the formula (``"1 + x + C(a, Sum)"``), not yet coded.

    ``spellings`` pair formulaic's normalised spelling of a term with the user's
    (``I(x ** 2)``, ``I(x**2)``): column names keep what was written.
    """

    text: str
    spellings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, eq=False)
class CodedPart:
    """A linear part coded on the estimation sample: formulaic's model spec and mejax's names.

    ``names`` follow formulaic's column order; ``aliases`` map formulaic's spellings
    to them; ``factors`` are the data variables that enter as factors, with the
    estimation sample's levels.
    """

    text: str
    model_spec: formulaic.ModelSpec
    names: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    factors: dict[str, list] = field(default_factory=dict)
    variables: frozenset[str] = frozenset()


@lru_cache(maxsize=512)
def _formula(text: str) -> formulaic.Formula:
    try:
        return formulaic.Formula(text)
    except (formulaic.errors.FormulaicError, SyntaxError, ValueError) as err:
        raise SpecError(f"cannot parse expression {text.strip()!r} in the formula: "
                        f"{str(err).splitlines()[0]}") from None


def parse_check(text: str) -> None:
    """A SpecError now (before any data is read) if formulaic cannot parse ``text``."""
    _formula(text)


def _expression_names(expr: str) -> tuple[set[str], set[str]]:
    """(variables, functions) a Python factor names; ``Q("my x")`` reads column ``my x``."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot parse expression {expr!r} in the formula") from None
    called = {n.func.id for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called - set(NAMESPACE)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q":
            names |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return names, called


@lru_cache(maxsize=512)
def _factor_names(text: str) -> tuple[tuple[str, frozenset[str], frozenset[str]], ...]:
    """Per factor of ``text``: (expression, variables, functions called)."""
    out = []
    for term in _formula(text):
        for factor in term.factors:
            expr = str(factor.expr)
            if factor.eval_method is formulaic.parser.types.Factor.EvalMethod.LOOKUP:
                out.append((expr, frozenset([expr]), frozenset()))
            elif factor.eval_method is formulaic.parser.types.Factor.EvalMethod.PYTHON:
                names, called = _expression_names(expr)
                out.append((expr, frozenset(names), frozenset(called)))
    return tuple(out)


def required_columns(part: FormulaPart, columns) -> set[str]:
    """Data columns ``part`` reads; an unknown function is a SpecError naming it."""
    needed: set[str] = set()
    known = set(map(str, columns))
    for expr, names, called in _factor_names(part.text):
        needed |= {n for n in names if n in known or n not in _transforms()}  # not Sum, Helmert
        for name in sorted(called - _transforms() - set(NAMESPACE)):
            if name not in known:
                raise SpecError(
                    f"unknown function {name!r} in {expr!r}; use numpy's (np.log(x)), I(...) "
                    "for arithmetic, or formulaic's transforms (scale, center, poly, bs, cr, C, Q)")
    return needed


def _as_frame(frame, names) -> pd.DataFrame:
    """The model's columns as a DataFrame formulaic codes: booleans and unused
    categories handled as mejax always has (booleans are factors, unused levels dropped)."""
    out = {}
    for name in names:
        col = frame[name].reset_index(drop=True)
        if pd.api.types.is_bool_dtype(col):
            col = pd.Series(pd.Categorical(col, categories=sorted(col.unique())))
        elif isinstance(col.dtype, pd.CategoricalDtype):
            col = col.cat.remove_unused_categories()
        elif frame.numeric[name] and not isinstance(col.dtype, np.dtype):
            col = pd.Series(frame.values(name))  # nullable dtypes as floats
        out[name] = col
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _factor_variable(expr: str) -> str | None:
    """The data variable of a factor ``a``, ``C(a)`` or ``C(a, ...)``, or None."""
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        arg = node.args[0]
        if node.func.id == "C" and isinstance(arg, ast.Name):
            return arg.id
        if node.func.id in ("C", "Q") and isinstance(arg, ast.Constant) \
                and isinstance(arg.value, str):
            return arg.value
        if node.func.id == "C" and isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) \
                and arg.func.id == "Q" and arg.args and isinstance(arg.args[0], ast.Constant):
            return str(arg.args[0].value)
    return None


def level_label(level) -> str:
    """A factor level as names show it (``2`` for 2.0)."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level)


def _treatment_pieces(encoder_state: dict) -> tuple[dict[str, str], dict[str, list]]:
    """formulaic's piece for each treatment-coded level -> lme4's (``C(p)[T.2.0]`` -> ``p2``)."""
    rename: dict[str, str] = {}
    factors: dict[str, list] = {}
    for expr, (kind, state) in encoder_state.items():
        if kind is not formulaic.parser.types.Factor.Kind.CATEGORICAL:
            continue
        var = _factor_variable(expr)
        levels = list(state.get("categories", []))
        if var is not None:
            factors.setdefault(var, levels)
        contrasts = state.get("contrasts")
        treatment = formulaic.transforms.contrasts.TreatmentContrasts
        if var is None or not isinstance(contrasts.contrasts, treatment):
            continue
        for level in levels:
            for piece in (f"{expr}[T.{level}]", f"{expr}[{level}]"):
                rename[piece] = f"{var}{level_label(level)}"
    return rename, factors


def _split_interaction(name: str, factors: list[str]) -> list[str] | None:
    """Pieces of a column name of a term with ``factors``, one per factor, or None."""
    pieces, pos = [], 0
    for i, factor in enumerate(factors):
        if not name.startswith(factor, pos):
            return None
        end = pos + len(factor)
        if end < len(name) and name[end] == "[":
            close = name.find("]", end)
            while close != -1 and i < len(factors) - 1 and not name.startswith(":", close + 1):
                close = name.find("]", close + 1)
            if close == -1:
                return None
            end = close + 1
        pieces.append(name[pos:end])
        pos = end + 1  # past ':'
    return pieces if pos - 1 == len(name) else None


def _names(model_spec: formulaic.ModelSpec, written: dict[str, str]
           ) -> tuple[list[str], dict[str, str], dict[str, list]]:
    rename, factors = _treatment_pieces(model_spec.encoder_state)
    names: list[str] = []
    aliases: dict[str, str] = {}
    for structure in model_spec.structure:
        term_factors = [str(f) for f in structure.term.factors]
        for column in structure.columns:
            if column == "Intercept":
                name = _INTERCEPT
            else:
                pieces = _split_interaction(column, term_factors)
                name = column if pieces is None else ":".join(
                    rename.get(p) or written.get(f, f) + p[len(f):]
                    for f, p in zip(term_factors, pieces))
            names.append(name)
            if " " in name and not re.search("[\"'`]", name):  # I(x ** 2) for I(x**2)
                aliases.setdefault(name.replace(" ", ""), name)
            if column != name:
                aliases[column] = name
                # formulaic's name for a plain column: period[T.2] for C(period)[T.2]
                short = re.sub(r"\bC\(([^(),]+)\)\[", r"\1[", column)
                aliases.setdefault(short, name)
    return names, aliases, factors


def _check_finite(x: np.ndarray, names) -> None:
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        raise DataError(f"{names[int(np.argmax(bad))]!r} gives non-finite values")


def _matrix(model_spec: formulaic.ModelSpec, data: pd.DataFrame) -> np.ndarray:
    try:
        mm = model_spec.get_model_matrix(data, context=NAMESPACE)
    except formulaic.errors.FormulaicError as err:
        raise SpecError(f"cannot code {model_spec.formula}: {err}") from None
    return np.asarray(mm, dtype=float).reshape(len(data), mm.shape[1])


def _plain_columns(text: str, frame) -> list[str] | None:
    """The column names when ``text`` is only numeric columns and the intercept, else None.

    Such a part carries no state, so its matrix is the columns themselves: this saves
    formulaic's materializer (most of the host time of a small fit) on ``(1 + x | g)``.
    """
    names = []
    for term in _formula(text):
        if len(term.factors) != 1:
            return None
        factor = term.factors[0]
        expr = str(factor.expr)
        method = formulaic.parser.types.Factor.EvalMethod
        if factor.eval_method is method.LITERAL and expr == "1":
            names.append(_INTERCEPT)
        elif factor.eval_method is method.LOOKUP and expr in frame.numeric \
                and frame.numeric[expr]:
            names.append(expr)
        else:
            return None
    return names


def _check_factor_sizes(text: str, frame) -> None:
    """Refuse a factor with too many levels before formulaic builds its dummies."""
    names = set(frame.names())
    for expr, _, _ in _factor_names(text):
        var = _factor_variable(expr)
        if var in names and (expr.startswith("C(") or not frame.numeric[var]):
            check_factor_levels(var, list(pd.unique(frame[var].dropna())), "r")


def code_part(part: FormulaPart, frame) -> tuple[np.ndarray, CodedPart]:
    """Model matrix of ``part`` on the estimation sample and the coded part that rebuilds it."""
    variables = required_columns(part, frame.names())
    plain = _plain_columns(part.text, frame)
    if plain is not None:
        x = np.column_stack([np.ones(len(frame)) if n == _INTERCEPT else frame.values(n)
                             for n in plain]) if plain else np.zeros((len(frame), 0))
        spec = formulaic.ModelSpec(_formula(part.text), ensure_full_rank=True, na_action="raise")
        return x, CodedPart(part.text, spec, tuple(plain), {"Intercept": _INTERCEPT}
                            if _INTERCEPT in plain else {}, {}, frozenset(variables))
    _check_factor_sizes(part.text, frame)
    data = _as_frame(frame, sorted(variables))
    spec = formulaic.ModelSpec(_formula(part.text), ensure_full_rank=True, na_action="raise")
    try:
        mm = spec.get_model_matrix(data, context=NAMESPACE)
    except formulaic.errors.FormulaicError as err:
        raise SpecError(f"cannot code {part.text.strip()!r}: {err}") from None
    except Exception as err:  # a transform's own error (np.log of a string, a bad df=)
        raise SpecError(f"cannot evaluate {part.text.strip()!r}: {err}") from None
    x = np.asarray(mm, dtype=float).reshape(len(frame), -1)
    names, aliases, factors = _names(mm.model_spec, dict(part.spellings))
    _check_finite(x, names)
    return x, CodedPart(part.text, mm.model_spec, tuple(names), aliases, factors,
                        frozenset(variables))


def recode(coded: CodedPart, frame) -> np.ndarray:
    """The model matrix on other rows with the training state; unseen levels are DataErrors."""
    data = _as_frame(frame, sorted(coded.variables))
    for var, levels in coded.factors.items():
        if var not in data or not len(data):
            continue
        unseen = ~data[var].isin(levels).to_numpy()
        if unseen.any():
            bad = data[var].to_numpy()[unseen][0]
            raise DataError(f"level {bad!r} of {var!r} does not occur in the estimation "
                            "sample; the fixed-effects design cannot code it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        x = _matrix(coded.model_spec, data)
    _check_finite(x, coded.names)
    return x
