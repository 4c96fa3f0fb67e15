"""DataFrame + ModelSpec -> design arrays and names (host side, numpy/pandas).

All input validation happens here, before anything is traced: missing
columns, a non-numeric response, non-finite values, empty data, grouping
factors with one level. Missing values are dropped listwise and counted.
Collinear fixed effects are omitted with a note, as Stata does.
"""

from __future__ import annotations

import ast
import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cov.structures import CovStructure, make_structure
from .collinearity import collinear_columns
from .columns import check_factor_levels, model_columns, no_complete_rows_message
from .formulaic_part import (
    CodedPart,
    FormulaPart,
    code_part,
    level_label,
    recode,
    required_columns,
)
from .glm_design import GlmData, build_glm_data
from .model import DataError, LinearPart, ModelSpec, SpecError, Term, Var
from .residual_design import ResidualDesign, build_residual_design, check_nested

_EXPR_NAMESPACE = {
    "np": np, "numpy": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt,
    "abs": np.abs, "I": lambda x: x, "log10": np.log10, "log2": np.log2,
}


def is_numeric_series(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


class ColumnFrame:
    """The model's columns, each pulled out of the DataFrame once.

    pandas column access and dtype checks dominate the cost of small fits, so
    numeric columns are converted to float arrays and classified here, once.
    """

    def __init__(self, columns: dict[str, pd.Series], values: dict[str, np.ndarray],
                 kept: np.ndarray | None = None):
        self._columns = columns
        self.kept = kept  # mask of the data's rows these columns hold (listwise deletion)
        self._n = len(next(iter(columns.values()))) if columns else 0
        self.numeric = {name: name in values for name in columns}
        self._values = values

    def __getitem__(self, name: str) -> pd.Series:
        return self._columns[name]

    def values(self, name: str) -> np.ndarray:
        """The column as a float array (numeric columns only)."""
        return self._values[name]

    def __len__(self) -> int:
        return self._n

    def names(self) -> list[str]:
        return list(self._columns)


@dataclass
class Column:
    """Display facts about one model-matrix column (for Stata-style tables)."""

    name: str
    term: str | None  # factor-term header (e.g. "a" or "a#c.x"); None for plain columns
    level: str | None  # level label under that header


@dataclass
class ReTerm:
    """One random-effect term: level codes, its model matrix and covariance."""

    label: str
    group_vars: tuple[str, ...]
    codes: np.ndarray
    n_levels: int
    z: np.ndarray
    effect_names: list[str]
    structure: CovStructure
    counts: np.ndarray  # observations per level
    # the term's effects part, kept so prediction can rebuild z on new data
    effects: LinearPart | CodedPart | None = None


@dataclass
class Design:
    y: np.ndarray
    x: np.ndarray
    columns: list[Column]
    re_terms: list[ReTerm]
    nobs: int
    n_dropped: int
    response: str
    style: str
    omitted: list[str] = field(default_factory=list)
    base_columns: list[Column] = field(default_factory=list)
    residual: ResidualDesign | None = None
    # The fixed part and estimation-sample columns, kept so post-estimation
    # (margins) can rebuild X on counterfactual data with the same levels.
    fixed_part: LinearPart | CodedPart | None = None
    frame: ColumnFrame | None = None
    glm: GlmData | None = None  # outcome arrays of a generalized linear mixed model

    @property
    def x_names(self) -> list[str]:
        return [c.name for c in self.columns]


def column_aliases(part) -> dict[str, str]:
    """Other spellings of a part's column names (formulaic's ``C(a)[T.b]`` for ``ab``)."""
    return dict(part.aliases) if isinstance(part, CodedPart) else {}


def _expr_names(expr: str) -> set[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise SpecError(f"cannot parse expression {expr!r}: {err.msg}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(_EXPR_NAMESPACE)


def linear_vars(part: LinearPart | FormulaPart | CodedPart, columns=()) -> set[str]:
    """Data columns a linear part reads (``columns``: the data's, to tell functions apart)."""
    if isinstance(part, FormulaPart):
        return required_columns(part, columns)
    if isinstance(part, CodedPart):
        return set(part.variables)
    names: set[str] = set()
    for term in part.terms:
        for var in term.vars:
            names |= _expr_names(var.name) if var.expr else {var.name}
    return names


def _needed_columns(spec: ModelSpec, columns) -> list[str]:
    names = {spec.response} | linear_vars(spec.fixed, columns)
    if spec.offset is not None:
        names.add(spec.offset)
    for part in spec.random:
        names |= set(part.group) | linear_vars(part.effects, columns)
    if spec.residuals is not None:
        names |= spec.residuals.columns()
    if spec.family is not None:
        names |= spec.family.columns()
    return sorted(names)


def _check_data(spec: ModelSpec, data) -> tuple[ColumnFrame, int]:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    needed = _needed_columns(spec, data.columns)
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not found in data; "
            f"available: {', '.join(map(str, data.columns))}"
        )
    if len(data) == 0:
        raise DataError("data set is empty")
    columns = model_columns(data, needed, spec.style, spec.response)
    y = columns[spec.response]
    if not is_numeric_series(y):
        raise DataError(f"response {spec.response!r} must be numeric, got dtype {y.dtype}")
    complete = np.ones(len(data), dtype=bool)
    numeric: dict[str, np.ndarray] = {}
    as_data = spec.family.missing_is_data(spec.response) if spec.family is not None else set()
    no_information = np.ones(len(data), dtype=bool) if as_data else np.zeros(len(data), bool)
    for name, col in columns.items():
        if is_numeric_series(col):
            values = numeric[name] = col.to_numpy(dtype=float, na_value=np.nan)
            missing = np.isnan(values)
            if np.isinf(values).any():
                raise DataError(f"column {name!r} has infinite values")
        else:
            missing = col.isna().to_numpy()
        if name in as_data:  # an open interval bound: data, unless every such column is missing
            no_information &= missing
        else:
            complete &= ~missing
    complete &= ~no_information
    n_dropped = int(len(data) - complete.sum())
    if n_dropped == len(data):
        raise DataError(no_complete_rows_message(columns, len(data)))
    if n_dropped:
        columns = {name: col[complete] for name, col in columns.items()}
        numeric = {name: values[complete] for name, values in numeric.items()}
    return ColumnFrame(columns, numeric, complete), n_dropped


def is_factor(var: Var, frame: ColumnFrame) -> bool:
    if var.kind != "auto":
        return var.kind == "cat"
    return not frame.numeric[var.name]


def factor_levels(col: pd.Series) -> list:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [c for c in col.cat.categories if c in set(col.unique())]
    values = col.unique()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _base_index(var: Var, levels: list) -> int | None:
    """Index of the reference level, or None for full coding (``ibn.``)."""
    if var.base is None or var.base == "first":
        return 0
    if var.base == "none":
        return None
    if var.base == "last":
        return len(levels) - 1
    if var.base == "freq":
        raise SpecError("ib(freq). is not supported; name the base level")
    labels = [level_label(lv) for lv in levels]
    if level_label(var.base) not in labels:
        raise SpecError(f"base level {var.base} of {var.name!r} not found; levels are {labels}")
    return labels.index(level_label(var.base))


def _numeric(var: Var, frame: ColumnFrame) -> np.ndarray:
    if var.expr:
        env = {name: frame.values(name) if frame.numeric[name] else frame[name].to_numpy()
               for name in _expr_names(var.name)}
        try:
            value = eval(var.name, dict(_EXPR_NAMESPACE), env)  # noqa: S307 - user formula
        except Exception as err:
            raise SpecError(f"cannot evaluate {var.name!r}: {err}") from None
        value = np.asarray(value, dtype=float)
        if value.shape != (len(frame),):
            value = np.broadcast_to(value, (len(frame),)).copy()
        if not np.isfinite(value).all():
            raise DataError(f"{var.name!r} gives non-finite values")
        return value
    if not frame.numeric[var.name]:
        raise DataError(f"variable {var.name!r} must be numeric for c. / continuous use")
    return frame.values(var.name)


def _var_columns(var, frame, full, style, alone, levels=None):
    """Columns, names and (term, level) labels contributed by one variable."""
    if not is_factor(var, frame):
        name = var.name if (style == "r" or alone) else f"c.{var.name}"
        return [_numeric(var, frame)], [name], [None]
    col = frame[var.name]
    levels = levels[var.name] if levels and var.name in levels else factor_levels(col)
    check_factor_levels(var.name, levels, style)
    base = None if full else _base_index(var, levels)
    codes = pd.Categorical(col, categories=levels).codes
    cols, names, labels = [], [], []
    for i, level in enumerate(levels):
        if i == base:
            continue
        label = level_label(level)
        cols.append((codes == i).astype(float))
        names.append(f"{var.name}{label}" if style == "r" else f"{label}.{var.name}")
        labels.append(label)
    return cols, names, labels


def _needs_full_coding(var: Var, term: Term, present: set[frozenset]) -> bool:
    """R's rule: a factor is fully coded when its term without it is absent."""
    if var.base == "none":
        return True
    return (term.key() - {var.name}) not in present


def code_linear(part: LinearPart | FormulaPart, frame: ColumnFrame, style: str):
    """(matrix, columns, base-level columns, the part as kept to rebuild it on new data)."""
    if isinstance(part, FormulaPart):
        x, coded = code_part(part, frame)
        return x, [Column(name, None, None) for name in coded.names], [], coded
    return (*build_linear(part, frame, style), part)


def build_linear(part: LinearPart | CodedPart, frame: ColumnFrame, style: str,
                 levels: dict[str, list] | None = None):
    """Model matrix of a linear part: (matrix, columns, base-level columns).

    ``levels`` fixes a factor's levels (name -> list) instead of reading them
    from ``frame``; post-estimation uses it on counterfactual data. A coded
    formula part is rebuilt with its training state (levels, scale, knots).
    """
    if isinstance(part, CodedPart):
        return recode(part, frame), [Column(name, None, None) for name in part.names], []
    n = len(frame)
    present = {t.key() for t in part.terms}
    if part.intercept:
        present.add(frozenset())
    mats, columns, bases = [], [], []
    for term in part.terms:
        cols, names, labels = [np.ones(n)], [""], [[]]
        alone = len(term.vars) == 1
        others = present - {term.key()}
        for var in term.vars:
            full = is_factor(var, frame) and _needs_full_coding(var, term, others)
            vcols, vnames, vlabels = _var_columns(var, frame, full, style, alone, levels)
            sep = ":" if style == "r" else "#"
            cols = [a * b for a in cols for b in vcols]
            names = [f"{a}{sep}{b}" if a else b for a in names for b in vnames]
            labels = [a + [b] for a in labels for b in vlabels]
        factor_vars = [v for v in term.vars if is_factor(v, frame)]
        header = None
        if factor_vars and style == "stata":
            header = "#".join(v.name if is_factor(v, frame) else f"c.{v.name}" for v in term.vars)
        for col, name, lab in zip(cols, names, labels):
            level = "#".join(x for x in lab if x is not None) or None
            mats.append(col)
            columns.append(Column(name, header, level if header else None))
        if header and len(term.vars) == 1:
            var = term.vars[0]
            var_levels = (levels[var.name] if levels and var.name in levels
                          else factor_levels(frame[var.name]))
            base = _base_index(var, var_levels)
            if base is not None and not _needs_full_coding(var, term, others):
                label = level_label(var_levels[base])
                bases.append(Column(f"{label}b.{var.name}", header, label))
    if part.intercept:
        cons = Column("(Intercept)" if style == "r" else "_cons", None, None)
        if style == "r":
            mats.insert(0, np.ones(n))
            columns.insert(0, cons)
        else:
            mats.append(np.ones(n))
            columns.append(cons)
    matrix = np.column_stack(mats) if mats else np.zeros((n, 0))
    return matrix, columns, bases


def _drop_collinear(x: np.ndarray, columns: list[Column]):
    """Omit columns that are linear combinations of earlier ones (Stata's 'omitted').

    The criterion is scale-free (:mod:`mejax.spec.collinearity`).
    """
    dropped = set(collinear_columns(x))
    keep = [j for j in range(x.shape[1]) if j not in dropped]
    omitted = [columns[j].name for j in sorted(dropped)]
    return x[:, keep], [columns[j] for j in keep], omitted


def _group_codes(frame: ColumnFrame, group: tuple[str, ...]) -> tuple[np.ndarray, int]:
    if len(group) == 1:
        codes, uniques = pd.factorize(frame[group[0]], sort=True)
        return codes.astype(np.int64), len(uniques)
    table = pd.DataFrame({name: frame[name].to_numpy() for name in group})
    codes = table.groupby(list(group), sort=True, observed=True).ngroup().to_numpy()
    return codes.astype(np.int64), int(codes.max()) + 1


def _default_covariance(part, k: int) -> str:
    if part.covariance:
        return part.covariance
    return "identity" if k == 1 else "independent"


def _with_offset(spec: ModelSpec) -> ModelSpec:
    """The formula's ``offset(z)`` handed to the family, which owns the GLMM's offset."""
    if spec.offset is None:
        return spec
    if spec.family is None:
        raise SpecError(f"offset({spec.offset}) applies to GLMMs (meglm, melogit, mepoisson, "
                        "...); for mixed, subtract it from the response")
    if spec.family.offset is not None or spec.family.exposure is not None:
        raise SpecError(f"offset({spec.offset}) in the formula and offset=/exposure= both "
                        "given; keep one")
    return dataclasses.replace(spec, family=dataclasses.replace(spec.family, offset=spec.offset),
                               offset=None)


def build_design(spec: ModelSpec, data, covariance=None) -> Design:
    """Validate ``data`` for ``spec`` and build the design arrays."""
    spec = _with_offset(spec)
    frame, n_dropped = _check_data(spec, data)
    y = frame.values(spec.response)
    glm = None
    fixed = spec.fixed
    if spec.family is not None:
        glm = build_glm_data(spec.family, frame, y, spec.response)
        y = glm.data["y"]
    x, columns, bases, fixed = code_linear(fixed, frame, spec.style)
    if glm is not None and glm.family.has_cutpoints:
        # the cutpoints play the constant's part; factors keep their base levels
        keep = [i for i, c in enumerate(columns) if c.name not in ("_cons", "(Intercept)")]
        x, columns = x[:, keep], [columns[i] for i in keep]
    x, columns, omitted = _drop_collinear(x, columns)
    if omitted:
        warnings.warn(f"note: {', '.join(omitted)} omitted because of collinearity", stacklevel=3)
    if x.shape[1] == 0 and glm is None:
        raise SpecError("the model has no fixed effects; mejax needs at least one")
    re_terms = []
    levels = []  # (label, codes, n_levels) of every random-effects level, effects or not
    for part in spec.random:
        codes, n_levels = _group_codes(frame, part.group)
        label = part.label
        if n_levels < 2:
            raise DataError(
                f"grouping variable {label!r} has a single level; a random effect needs "
                "at least two groups"
            )
        levels.append((label, codes, n_levels))
        if isinstance(part.effects, LinearPart) and not part.effects.intercept \
                and not part.effects.terms:
            continue  # names the residual group only
        z, zcols, _, effects = code_linear(part.effects, frame, spec.style)
        names = [c.name for c in zcols]
        if not names:
            raise SpecError(f"random term of {label!r} has no effects: write (1 | {label})")
        cov_name = _covariance_for(covariance, part, z.shape[1])
        counts = np.bincount(codes, minlength=n_levels)
        re_terms.append(
            ReTerm(label, part.group, codes, n_levels, z, names,
                   make_structure(cov_name, z.shape[1]), counts, effects)
        )
    residual = _residual_design(spec, frame, levels, re_terms)
    if not re_terms and residual is None:
        raise SpecError("the model has no random effects; add a term like (1 | group)")
    if residual is not None and glm is not None:
        raise SpecError("residuals() applies to linear mixed models (mixed) only")
    return Design(y, x, columns, re_terms, len(y), n_dropped, spec.response, spec.style,
                  omitted, bases, residual, fixed, frame, glm)


def _residual_design(spec: ModelSpec, frame: ColumnFrame, levels, re_terms):
    """The residual structure's host data, or None for independent homoskedastic errors."""
    res = spec.residuals
    if res is None or (res.type == "independent" and res.by is None):
        return None
    if res.group is not None:
        codes, n_levels = _group_codes(frame, (res.group,))
        label = res.group
    elif not levels:
        raise SpecError(
            "residuals() needs a group within which errors correlate: add a random-effects "
            "level or give group= in residuals"
        )
    elif spec.style == "stata":
        label, codes, n_levels = levels[-1]  # the lowest level
    else:
        label, codes, n_levels = max(levels, key=lambda lv: lv[2])
    design = build_residual_design(res, frame, codes, n_levels, label)
    check_nested([(t.label, t.codes) for t in re_terms], design)
    return design


def _covariance_for(covariance, part, k: int) -> str:
    if isinstance(covariance, dict):
        chosen = covariance.get(part.label, covariance.get(part.group[-1]))
        if chosen is not None:
            return chosen
    elif isinstance(covariance, str):
        return covariance
    elif covariance is not None:
        raise SpecError("covariance= must be a string or a dict mapping group to structure")
    return _default_covariance(part, k)
