"""Host side of a nonlinear mixed-model fit: rows, group codes, structure, start, checks.

:func:`build_nonlinear` turns a mean function, a DataFrame and the names of the
parameters into the arrays and static structure of :mod:`mejax.fit.lindstrom_bates`;
every check on the data runs here, before anything is traced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd

from ..cov.structures import canonical_covariance, make_structure
from ..cov.variance import Constant, Distinct, Stratified, VarianceFunction
from ..errors import DataError, SpecError
from ..linalg.residual_blocks import (
    residual_index_arrays,
    residual_structure,
    typical_distance,
)
from ..linalg.traced_blocks import row_structure
from ..models.nonlinear import NonlinearStructure, mean
from ..spec.design import ColumnFrame
from ..spec.residual_design import ResidualDesign, build_residual_design, check_nested
from ..spec.residuals import Residuals
from .lindstrom_bates import NonlinearData


@dataclass(frozen=True)
class Level:
    """One random-effects level: ``name`` as Stata writes it (``plot<zone``), its path."""

    name: str
    path: tuple[str, ...]  # outermost first: ("zone", "plot")

    @property
    def label(self) -> str:
        return self.path[-1]


def parse_level(text: str) -> Level:
    """``"plot"`` or Stata's nesting ``"plot<zone"`` (plot within zone)."""
    parts = [p.strip() for p in str(text).split("<")]
    if not all(parts):
        raise SpecError(f"cannot read the random-effects level {text!r}: write 'plot' or "
                        "'plot<zone' (plots within zones)")
    return Level("<".join(parts), tuple(reversed(parts)))


@dataclass
class NonlinearDesign:
    """Everything host side about one fit: arrays, structure, names, groups, start."""

    arrays: NonlinearData
    model: NonlinearStructure
    levels: list[Level]
    group_labels: list[np.ndarray]
    response: str
    y: np.ndarray
    frame: pd.DataFrame
    start: np.ndarray
    nobs: int
    n_dropped: int
    style: str = "stata"  # what post-estimation reads (names as Stata writes them)
    base_columns: tuple = ()
    residual_design: ResidualDesign | None = None
    residual_start: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    residual: None = None  # mixed's residuals() (post-estimation reads it): not used here
    fixed_part: None = None  # no formula-coded part: test/lincom read no column aliases

    @property
    def variables(self) -> list[str]:
        """The data columns the mean reads (what margins' at() and dydx() may set)."""
        return list(self.arrays.data)

    @property
    def re_terms(self) -> list[ReTerm]:
        """Each level's effects (label, names): what lrtest compares between two fits."""
        return [ReTerm(lv.name, names) for lv, names in zip(self.levels, self.model.effects)]


@dataclass(frozen=True)
class ReTerm:
    label: str
    effect_names: tuple[str, ...]


def _codes(frame: pd.DataFrame, level: Level) -> tuple[np.ndarray, np.ndarray]:
    """Integer group codes (0..m-1, groups in the order of their labels as text) and the
    group labels of ``level``'s innermost variable."""
    if len(level.path) == 1:
        raw, uniques = pd.factorize(frame[level.path[0]])
        order = np.argsort(np.asarray(uniques).astype(str), kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[raw].astype(np.int32), np.asarray(uniques)[order]
    keys = frame[list(level.path)].astype(str).agg("\x1f".join, axis=1)
    _, first, codes = np.unique(keys.to_numpy(), return_index=True, return_inverse=True)
    return codes.astype(np.int32), frame[level.path[-1]].to_numpy()[first]


def build_nonlinear(mean_fn: Callable, data: pd.DataFrame, response: str, fixed: dict,
                    random: dict, covariance: dict | None, variance: VarianceFunction,
                    reml: bool, columns: list[str] | None,
                    residual: Residuals | None = None) -> NonlinearDesign:
    """Arrays and structure of ``mean_fn`` on ``data`` (rows with missing values dropped);
    ``residual`` correlates the errors within groups (``mixed``'s residual structures)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame")
    if response not in data.columns:
        raise DataError(f"response {response!r} not found in data")
    if not fixed:
        raise SpecError("menl needs at least one fixed parameter (fixed={'b1': start, ...})")
    levels: dict[str, Level] = {}
    effect_level: dict[str, str] = {}
    for name, spec in (random or {}).items():
        level = parse_level(spec)
        levels.setdefault(level.name, level)
        effect_level[name] = level.name
        if name in fixed:
            raise SpecError(f"{name!r} is both a fixed parameter and a random effect")
    needed = [response] + sorted({v for lv in levels.values() for v in lv.path})
    needed += [c for c in sorted(residual.columns() if residual is not None else ())
               if c not in needed]
    if variance.covariate not in ("", "_yhat") and variance.covariate not in needed:
        needed.append(variance.covariate)
    if isinstance(variance, Stratified) and variance.strata not in needed:
        needed.append(variance.strata)
    for col in needed:
        if col not in data.columns:
            what = ("response" if col == response else
                    "random-effects level variable" if any(col in lv.path
                                                           for lv in levels.values())
                    else "resvariance() variable" if col == variance.covariate
                    else "resvariance() strata() variable" if isinstance(variance, Stratified)
                    and col == variance.strata
                    else "residual-structure variable")
            raise DataError(f"{what} {col!r} not found in data (columns: "
                            f"{', '.join(map(str, data.columns))})")
    if not pd.api.types.is_numeric_dtype(data[response]):
        raise DataError(f"response {response!r} is not numeric")
    used = list(columns) if columns is not None else [
        c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])
        and not isinstance(data[c].dtype, pd.CategoricalDtype)]
    for col in used:
        if col not in data.columns:
            raise DataError(f"column {col!r} of the mean not found in data")
    check = list(dict.fromkeys(needed + (used if columns is not None else [])))
    keep = data[check].notna().all(axis=1).to_numpy()
    frame = data.loc[keep]
    if len(frame) == 0:
        raise DataError("no observations left after dropping rows with missing values")
    y = frame[response].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise DataError(f"response {response!r} has infinite values")
    cols = {c: frame[c].to_numpy(dtype=float) for c in used}

    coded = {name: _codes(frame, lv) for name, lv in levels.items()}
    ordered = sorted(levels.values(), key=lambda lv: -len(coded[lv.name][1]))
    codes, labels, effects, structures, zs = [], [], [], [], []
    covariance = dict(covariance or {})
    for level in ordered:
        c, lab = coded[level.name]
        if len(lab) < 2:
            raise DataError(f"random-effects level {level.name!r} has only one group")
        names = tuple(n for n, lv in effect_level.items() if lv == level.name)
        kind = _level_covariance(covariance, level, names)
        codes.append(c)
        labels.append(lab)
        effects.append(names)
        structures.append(make_structure(kind, len(names)))
        zs.append(np.zeros((len(frame), len(names))))
    if covariance:
        raise SpecError(f"covariance() names {', '.join(map(str, covariance))}, which are not "
                        "random effects of one level of the model")
    if not codes:
        raise SpecError("menl needs at least one random effect (random={'U': 'group'})")
    layout, rows, index = row_structure(codes, zs, [len(lab) for lab in labels], len(fixed))
    n_blocks = tuple(index[f"b21_level1_{t}"].shape[0] for t in range(1, len(layout.rest) + 1))
    variance = variance if variance is not None else Constant()
    variance, covariate = _variance_covariate(variance, frame)
    res_design, res_host, res_start, structure = None, {}, np.zeros(0), None
    if residual is not None and not (residual.type == "independent" and residual.by is None):
        res_design = _residual_design(residual, frame, ordered, codes)
        structure = residual_structure(res_design)
        res_host = residual_index_arrays(res_design, codes, zs, len(fixed), layout, n_blocks)
        res_start = structure.params_init(typical_distance(res_design))
    model = NonlinearStructure(mean_fn, tuple(fixed), tuple(effects),
                               tuple(len(lab) for lab in labels), tuple(structures), layout,
                               n_blocks, variance, bool(reml), structure)
    # numpy leaves: the compiled fit takes them as they are (a jnp.asarray per leaf
    # costs a warm fit more than its arithmetic)
    arrays = NonlinearData(y, cols, tuple(codes), {k: np.asarray(v) for k, v in rows.items()},
                           {k: np.asarray(v) for k, v in index.items()},
                           np.asarray(covariate, float), res_host)
    start = np.array([float(v) for v in fixed.values()])
    design = NonlinearDesign(arrays, model, ordered, labels, response, y, frame, start,
                             len(frame), int((~keep).sum()), residual_design=res_design,
                             residual_start=res_start)
    _check_start(design)
    return design


def _variance_covariate(variance: VarianceFunction, frame: pd.DataFrame
                        ) -> tuple[VarianceFunction, np.ndarray]:
    """The variance function bound to the data and its covariate per row: the column, the
    level codes of ``distinct``'s index, or zeros (the fitted mean is traced)."""
    name = variance.covariate
    if isinstance(variance, Stratified):
        codes, levels = pd.factorize(frame[variance.strata], sort=True)
        _, values = _variance_covariate(variance.base, frame)
        return variance.with_levels(levels), np.column_stack([values, codes.astype(float)])
    if isinstance(variance, Distinct):
        codes, levels = pd.factorize(frame[name], sort=True)
        if len(levels) < 2:
            raise DataError(f"resvariance(distinct, index({name})): {name!r} has one level "
                            "in the estimation sample; a variance per level needs two or more")
        return variance.with_levels(levels), codes.astype(float)
    if name in ("", "_yhat"):
        return variance, np.zeros(len(frame))
    if not pd.api.types.is_numeric_dtype(frame[name]):
        raise DataError(f"resvariance() variable {name!r} is not numeric")
    return variance, frame[name].to_numpy(dtype=float)


def _residual_design(residual: Residuals, frame: pd.DataFrame, levels: list[Level],
                     codes: list[np.ndarray]) -> ResidualDesign:
    """The residual groups (``group()``, else the lowest level) with their times, checked."""
    columns = sorted(residual.columns())
    numeric = {c: frame[c].to_numpy(dtype=float) for c in columns
               if pd.api.types.is_numeric_dtype(frame[c])}
    view = ColumnFrame({c: frame[c] for c in columns}, numeric)
    if residual.group is not None:
        uniques, group = np.unique(frame[residual.group].astype(str).to_numpy(),
                                   return_inverse=True)
        label, n_groups = residual.group, len(uniques)
    else:
        label, group, n_groups = levels[0].name, codes[0], int(codes[0].max()) + 1
    design = build_residual_design(residual, view, np.asarray(group, np.int64), n_groups, label)
    check_nested([(lv.name, c) for lv, c in zip(levels, codes) if c is not group], design)
    return design


def _level_covariance(covariance: dict, level: Level, names: tuple[str, ...]) -> str:
    """The structure of a level's effects: a ``covariance`` entry keyed by level or effects."""
    kind = "independent"
    for key in list(covariance):
        members = tuple(key) if isinstance(key, (tuple, list)) else (key,)
        if members in ((level.name,), (level.label,)) or set(members) == set(names):
            kind = covariance.pop(key)
        elif set(members) & set(names):
            raise SpecError(f"covariance({' '.join(members)}, ...) must name all random "
                            f"effects of level {level.name} ({' '.join(names)}) or none")
    try:
        return canonical_covariance(kind)
    except ValueError as err:
        raise SpecError(str(err)) from None


_mean_at = jax.jit(mean, static_argnums=(4,))  # compiled once per model, not once per call


def _check_start(design: NonlinearDesign) -> None:
    """The mean must be finite at the starting values, with every random effect at zero."""
    model = design.model
    bs = [np.zeros((m, len(names))) for m, names in zip(model.n_groups, model.effects)]
    try:
        values = np.asarray(_mean_at(design.start, bs, design.arrays.codes,
                                     design.arrays.data, model))
    except KeyError as err:
        raise SpecError(f"the mean uses {err.args[0]!r}, which is neither a parameter nor a "
                        "numeric column of the data") from None
    if values.shape != design.y.shape:
        raise SpecError(f"the mean returned shape {values.shape}; it must give one value "
                        f"per row ({design.y.shape[0]})")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        rows = ", ".join(map(str, design.frame.index[bad[:10]].tolist()))
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        raise DataError(f"the mean is not finite at the starting values in rows {rows}{more}; "
                        "give other starting values (fixed=, or initial() in Stata's syntax) or "
                        "check those rows")
