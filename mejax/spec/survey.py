"""Sampling weights and survey designs (host side): ``[pw=]``, ``pweight()``, ``svyset``.

Estimation is by pseudo-maximum likelihood (Rabe-Hesketh & Skrondal 2006):
the weight of a row multiplies its log density inside its cluster's
integral, and the weight of a group at a model level multiplies the log of
that group's integral. Weights are conditional, as Stata's are: a row's
weight is the inverse of its probability of selection given its cluster.

:class:`Weighting` names the weight variables of one fit; :class:`SurveyDesign`
is what ``svyset`` declares (stages with their units, weights, strata and
finite-population corrections). :func:`pseudo_weights` and
:func:`sampling_units` turn them into arrays for a design's rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError

PWSCALES = ("size", "effective", "gk")
SINGLEUNITS = ("missing", "certainty", "scaled", "centered")
VCE_KINDS = ("oim", "robust", "cluster", "linearized")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WEIGHT = re.compile(r"\[\s*(?P<kind>pweight|pw|fweight|fw|aweight|aw|iweight|iw)\s*=\s*"
                     r"(?P<exp>[^\]]*)\]", re.IGNORECASE)
WEIGHT_KINDS = {"pweight": "pweight", "pw": "pweight", "fweight": "fweight", "fw": "fweight",
                "aweight": "aweight", "aw": "aweight", "iweight": "iweight", "iw": "iweight"}


@dataclass(frozen=True)
class Weighting:
    """The weight variables of a fit: of the rows and of each model level's groups.

    ``levels`` maps a random-effects level (its grouping variable, as results
    name it) to a variable constant within that level's groups. ``scale`` is
    Stata's ``pwscale()`` for the rows' weights within their clusters.
    """

    rows: str | None = None
    levels: dict = field(default_factory=dict, hash=False, compare=False)
    scale: str | None = None

    def __post_init__(self):
        if self.scale is not None and self.scale not in PWSCALES:
            raise SpecError(f"pwscale({self.scale}) is not a scaling method; use "
                            f"{', '.join(PWSCALES)}")
        for name in self.columns():
            if not isinstance(name, str) or not name:
                raise SpecError(f"weight variable {name!r} must be a column name")

    def columns(self) -> set[str]:
        return {self.rows, *self.levels.values()} - {None}

    @property
    def any(self) -> bool:
        return bool(self.columns())


@dataclass(frozen=True)
class Stage:
    """One sampling stage of ``svyset``: its units (None for ``_n``), weight, strata, fpc."""

    unit: str | None
    weight: str | None = None
    strata: str | None = None
    fpc: str | None = None


@dataclass(frozen=True)
class SurveyDesign:
    """What ``svyset`` declares: the stages, the single-stage weight and singleton rule."""

    stages: tuple[Stage, ...]
    weight: str | None = None  # svyset psu [pw=w]: the whole-sample weight of each row
    singleunit: str = "missing"

    def __post_init__(self):
        if not self.stages:
            raise SpecError("svyset needs a sampling unit, e.g. 'svyset psu' or 'svyset _n'")
        if self.singleunit not in SINGLEUNITS:
            raise SpecError(f"singleunit({self.singleunit}) must be one of "
                            f"{', '.join(SINGLEUNITS)}")
        for i, stage in enumerate(self.stages[1:], start=2):
            if stage.strata is not None or stage.fpc is not None:
                raise SpecError(f"strata() and fpc() at stage {i}: mejax's linearized variance "
                                "uses the first stage's strata and fpc only (the later stages' "
                                "contribution is negligible without a first-stage fpc); "
                                "declare them at the first stage")
        if self.weight is not None and any(s.weight for s in self.stages):
            raise SpecError("give either svyset's [pw=] or stage weights weight(), not both")

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def columns(self) -> set[str]:
        names = {self.weight}
        for s in self.stages:
            names |= {s.unit, s.weight, s.strata, s.fpc}
        return names - {None}

    def weighting(self, level_labels: list[str], scale: str | None = None) -> Weighting:
        """Stage weights as model-level weights: stage s weights level s (top first).

        The stages must follow the model's levels (one per level, then ``_n``
        for the observations); a design with a single stage of units carries
        at most an observation weight (``[pw=]`` or ``_n``'s weight).
        """
        stages = list(self.stages)
        units = [s.unit for s in stages]
        if self.weight is not None:
            return Weighting(rows=self.weight, scale=scale)
        weighted = [s for s in stages if s.weight is not None]
        if not weighted:
            return Weighting(scale=scale)
        if units[-1] is not None:
            stages.append(Stage(None))
            units.append(None)
        expected = list(level_labels) + [None]
        if units != expected:
            shown = " || ".join(u or "_n" for u in units)
            want = " || ".join(u or "_n" for u in expected)
            raise SpecError(f"the survey stages ({shown}) do not match the model's levels "
                            f"({want}): with stage weights, declare one stage per level, top "
                            f"first, e.g. 'svyset {want.replace(' || ', ', weight(w) || ')}'")
        levels = {label: s.weight for label, s in zip(level_labels, stages) if s.weight}
        return Weighting(rows=stages[-1].weight, levels=levels, scale=scale)

    def describe(self) -> str:
        """svyset's listing of the design."""
        lines = []
        if self.weight:
            lines.append(f"Sampling weights: {self.weight}")
        for i, s in enumerate(self.stages, start=1):
            lines.append(f"{'':10}VCE: linearized" if i == 1 else "")
            lines.append(f"{'Stage ' + str(i) + ':':>10} {'PSU' if i == 1 else 'SSU'}: "
                         f"{s.unit or '<observations>'}")
            for what, value in (("Weight", s.weight), ("Strata", s.strata), ("FPC", s.fpc)):
                if value:
                    lines.append(f"{'':10}{what}: {value}")
        lines.append(f"{'':10}Single unit: {self.singleunit}")
        return "\n".join(line for line in lines if line)


def _stage_options(text: str, where: str) -> dict:
    out = {}
    for m in re.finditer(r"(\w+)\s*\(([^()]*)\)", text):
        key, value = m.group(1).lower(), m.group(2).strip()
        for full, shortest in (("weight", "weight"), ("strata", "str"), ("fpc", "fpc"),
                               ("singleunit", "singleunit"), ("vce", "vce"),
                               ("poststrata", "poststrata")):
            if full.startswith(key) and key.startswith(shortest):
                key = full
                break
        else:
            raise SpecError(f"svyset: unknown option {m.group(0)!r} {where}")
        if key in ("poststrata",):
            raise SpecError("svyset: poststratification is not supported")
        out[key] = value
    rest = re.sub(r"(\w+)\s*\(([^()]*)\)", "", text).strip(" ,")
    if rest:
        raise SpecError(f"svyset: cannot read {rest!r} {where}")
    return out


def parse_svyset(text: str) -> SurveyDesign:
    """``psu [pw=w], strata(st) fpc(f) singleunit(scaled) || ssu, weight(w2) || _n, weight(w1)``."""
    text, weight = weight_clause(" ".join(str(text).split()))
    if weight is not None and weight[0] != "pweight":
        raise SpecError(f"svyset takes sampling weights [pw=...], not {weight[0]}s")
    stages = []
    singleunit = "missing"
    for index, piece in enumerate(text.split("||"), start=1):
        unit, _, opts = piece.partition(",")
        unit = unit.strip()
        where = f"at stage {index}"
        if not unit or len(unit.split()) != 1:
            raise SpecError(f"svyset: stage {index} needs one sampling-unit variable or _n, "
                            f"got {unit!r}")
        if unit != "_n" and not _NAME.match(unit):
            raise SpecError(f"svyset: {unit!r} is not a variable name")
        options = _stage_options(opts, where)
        if "vce" in options and options.pop("vce").lower() not in ("linearized", "linear"):
            raise SpecError("svyset: only vce(linearized) is available")
        if "singleunit" in options:
            if index != 1:
                raise SpecError("svyset: singleunit() belongs to the first stage")
            singleunit = options.pop("singleunit").lower()
        stages.append(Stage(None if unit == "_n" else unit, options.get("weight"),
                            options.get("strata"), options.get("fpc")))
    return SurveyDesign(tuple(stages), weight[1] if weight else None, singleunit)


def weight_clause(command: str) -> tuple[str, tuple[str, str] | None]:
    """``mixed y x [pw=w] || id:`` -> (the command without it, ("pweight", "w"))."""
    matches = list(_WEIGHT.finditer(command))
    if not matches:
        if "[" in command and re.search(r"\[\s*\w+\s*=", command):
            raise SpecError("weights are written [pw=varname] (sampling weights)")
        return command, None
    if len(matches) > 1:
        raise SpecError("only one weight clause [pw=...] is allowed")
    m = matches[0]
    kind, exp = WEIGHT_KINDS[m.group("kind").lower()], m.group("exp").strip()
    if not _NAME.match(exp):
        raise SpecError(f"weight expression {exp!r}: give a variable name (generate the "
                        "weight first)")
    if kind != "pweight":
        raise SpecError(f"{kind}s are not supported; mejax takes sampling weights [pw=...] "
                        "(pweight() at higher levels)")
    return (command[:m.start()] + command[m.end():]).strip(), (kind, exp)


# ---- arrays for a design's rows -------------------------------------------------------------
@dataclass(frozen=True)
class PseudoWeights:
    """Weights of a design's rows and of every model level's groups (top first)."""

    rows: np.ndarray | None  # (n,)
    levels: tuple  # per level (top first): (G_l,) or None
    population: float  # Σ over rows of the product of their weights at every level

    @property
    def any(self) -> bool:
        return self.rows is not None or any(w is not None for w in self.levels)


def _column(data: pd.DataFrame, kept: np.ndarray, name: str, what: str) -> np.ndarray:
    if name not in data.columns:
        raise DataError(f"{what} variable {name!r} not found in data")
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataError(f"{what} variable {name!r} must be numeric")
    values = col.to_numpy(dtype=float, na_value=np.nan)[kept]
    if np.isnan(values).any():
        raise DataError(f"{what} variable {name!r} has {int(np.isnan(values).sum())} missing "
                        "value(s) among the estimation sample; weights must be given for "
                        "every row used")
    if not np.isfinite(values).all():
        raise DataError(f"{what} variable {name!r} has infinite values")
    return values


def _weights(data, kept, name: str, what: str) -> np.ndarray:
    values = _column(data, kept, name, what)
    if (values < 0).any():
        raise DataError(f"{what} variable {name!r} has negative values; sampling weights are "
                        "inverse selection probabilities (≥ 0)")
    return values


def constant_within(values: np.ndarray, codes: np.ndarray, n: int, name: str,
                    level: str) -> np.ndarray:
    """One value per group; refuses a variable that varies within a group."""
    first = np.full(n, np.nan)
    first[codes[::-1]] = values[::-1]
    varies = np.abs(values - first[codes]) > 1e-12 * np.maximum(1.0, np.abs(first[codes]))
    if varies.any():
        bad = int(codes[np.argmax(varies)])
        raise DataError(f"weight variable {name!r} varies within groups of {level!r} (for "
                        f"example group {bad + 1} of {n}); a level's weight must be constant "
                        "within each of its groups")
    return first


def pseudo_weights(weighting: Weighting, levels: list, data: pd.DataFrame,
                   kept: np.ndarray) -> PseudoWeights:
    """Arrays of ``weighting`` for the rows ``kept`` (positions in ``data``) of a design.

    ``levels``: (label, row codes, number of groups) per model level, top first.
    """
    labels = [label for label, _, _ in levels]
    unknown = set(weighting.levels) - set(labels)
    if unknown:
        raise SpecError(f"pweight() for {', '.join(map(repr, sorted(unknown)))}, which is not "
                        f"a random-effects level of the model ({', '.join(labels)})")
    rows = None
    if weighting.rows is not None:
        rows = _weights(data, kept, weighting.rows, "weight")
    groups = []
    for label, codes, n in levels:
        name = weighting.levels.get(label)
        groups.append(None if name is None else constant_within(
            _weights(data, kept, name, "weight"), codes, n, name, label))
    if weighting.scale is not None:
        if rows is None:
            raise SpecError("pwscale() scales observation-level weights: give [pw=...]")
        rows, groups = _scaled(weighting.scale, rows, groups, levels)
    return PseudoWeights(rows, tuple(groups), population_size(rows, groups, levels))


def population_size(rows: np.ndarray | None, groups, levels: list) -> float:
    """Σ over rows of the product of the row's weights at every level (the population)."""
    product = np.ones(len(levels[0][1])) if rows is None else rows.copy()
    for w, (_, codes, _) in zip(groups, levels):
        if w is not None:
            product = product * w[codes]
    return float(product.sum())


def _scaled(scale: str, rows: np.ndarray, groups: list, levels: list):
    """Stata's pwscale() within the lowest level's clusters (Graubard–Korn moves them up)."""
    _, codes, n = levels[-1]
    size = np.bincount(codes, minlength=n).astype(float)
    total = np.bincount(codes, weights=rows, minlength=n)
    if np.any(total[size > 0] <= 0):
        raise DataError("pwscale(): a cluster's observation weights sum to zero")
    if scale == "size":
        return rows * (size / total)[codes], groups
    if scale == "effective":
        squares = np.bincount(codes, weights=rows**2, minlength=n)
        return rows * (total / squares)[codes], groups
    # gk: the lowest level's weight becomes the cluster mean of the product, rows weigh one
    upper = groups[-1] if groups[-1] is not None else np.ones(n)
    groups = list(groups)
    groups[-1] = upper * total / size
    return np.ones_like(rows), groups


@dataclass(frozen=True)
class SamplingUnits:
    """What the linearized variance needs, per top-level cluster of the model.

    ``psu`` (C,) PSU code of every cluster; ``strata`` (P,) stratum of every
    PSU; ``fraction`` (P,) its stratum's sampling fraction (zeros without fpc);
    ``kind``: "linearized" (survey), "robust" or "cluster".
    """

    psu: np.ndarray
    strata: np.ndarray
    fraction: np.ndarray
    kind: str
    singleunit: str = "missing"

    @property
    def n_psu(self) -> int:
        return len(self.strata)

    @property
    def n_strata(self) -> int:
        return int(self.strata.max()) + 1 if len(self.strata) else 0

    @property
    def design_df(self) -> int:
        return self.n_psu - self.n_strata


def _codes(values) -> np.ndarray:
    return pd.factorize(pd.Series(values), sort=True)[0].astype(np.int64)


def _psu_of_clusters(psu_rows: np.ndarray, top_codes: np.ndarray, n_top: int,
                     name: str, top: str) -> np.ndarray:
    """The PSU of every top-level cluster; refuses clusters that straddle PSUs."""
    codes = _codes(psu_rows)
    per = constant_within(codes.astype(float), top_codes, n_top, name, top)
    if np.isnan(per).any():
        raise DataError(f"a group of {top!r} has no rows")
    return per.astype(np.int64)


def cluster_units(kind: str, levels: list, data: pd.DataFrame, kept: np.ndarray,
                  cluster: str | None = None) -> SamplingUnits:
    """vce(robust) (the top-level groups as clusters) or vce(cluster var)."""
    label, codes, n = levels[0]
    if kind == "robust" or cluster is None:
        psu = np.arange(n)
    else:
        if cluster not in data.columns:
            raise DataError(f"cluster variable {cluster!r} not found in data")
        values = data[cluster].to_numpy()[kept]
        if pd.isna(values).any():
            raise DataError(f"cluster variable {cluster!r} has missing values in the sample")
        try:
            psu = _psu_of_clusters(values, codes, n, cluster, label)
        except DataError:
            raise DataError(f"vce(cluster {cluster}): the groups of {label!r} must be nested "
                            f"within the clusters of {cluster!r}") from None
        psu = _codes(psu)
    n_psu = int(psu.max()) + 1
    return SamplingUnits(psu, np.zeros(n_psu, dtype=np.int64), np.zeros(n_psu), kind)


def sampling_units(survey: SurveyDesign, levels: list, data: pd.DataFrame,
                   kept: np.ndarray) -> SamplingUnits:
    """The first stage's PSUs, strata and fpc, per top-level cluster of the model."""
    first = survey.first
    label, top_codes, n_top = levels[0]
    if first.unit is None:
        raise SpecError("the first-stage sampling unit is _n (the observations), but "
                        f"multilevel models need the groups of {label!r} nested in the PSUs: "
                        f"svyset {label}, ... (or a variable above it)")
    if first.unit not in data.columns:
        raise DataError(f"sampling-unit variable {first.unit!r} not found in data")
    psu_rows = data[first.unit].to_numpy()[kept]
    if pd.isna(psu_rows).any():
        raise DataError(f"sampling-unit variable {first.unit!r} has missing values")
    if first.strata is not None:
        if first.strata not in data.columns:
            raise DataError(f"strata variable {first.strata!r} not found in data")
        strata_rows = data[first.strata].to_numpy()[kept]
        if pd.isna(strata_rows).any():
            raise DataError(f"strata variable {first.strata!r} has missing values")
        psu_rows = pd.Series(list(zip(strata_rows, psu_rows))).to_numpy()
    else:
        strata_rows = np.zeros(len(psu_rows))
    try:
        psu = _psu_of_clusters(psu_rows, top_codes, n_top, first.unit, label)
    except DataError:
        raise DataError(f"the groups of {label!r} are not nested within the PSUs "
                        f"({first.unit!r}): each group must lie in one PSU (and stratum)"
                        ) from None
    psu_codes = _codes(psu_rows)
    n_psu = int(psu_codes.max()) + 1
    strata_codes = _codes(strata_rows)
    strata = np.zeros(n_psu, dtype=np.int64)
    strata[psu_codes] = strata_codes
    counts = np.bincount(strata)
    singles = np.flatnonzero(counts == 1)
    if singles.size and survey.singleunit == "missing":
        raise DataError(
            f"{singles.size} stratum(s) with a single sampling unit (for example stratum "
            f"{int(singles[0]) + 1}): the linearized variance is not estimable there; declare "
            "svyset ..., singleunit(certainty|scaled|centered) to choose how they count")
    fraction = np.zeros(n_psu)
    if first.fpc is not None:
        fpc = _column(data, kept, first.fpc, "fpc")
        per_stratum = constant_within(fpc, strata_codes, int(strata_codes.max()) + 1,
                                      first.fpc, first.strata or "the sample")
        if np.any(per_stratum <= 0):
            raise DataError(f"fpc variable {first.fpc!r} must be positive")
        n_h = np.bincount(strata, minlength=len(per_stratum)).astype(float)
        if np.all(per_stratum <= 1):
            f = per_stratum
        elif np.all(per_stratum >= 1):
            if np.any(per_stratum < n_h):
                raise DataError(f"fpc variable {first.fpc!r}: a stratum's population size is "
                                "smaller than its number of sampled PSUs")
            f = n_h / per_stratum
        else:
            raise DataError(f"fpc variable {first.fpc!r} mixes sampling rates (≤ 1) and "
                            "population sizes (> 1)")
        fraction = f[strata]
    return SamplingUnits(psu, strata, fraction, "linearized", survey.singleunit)


def subpopulation(data: pd.DataFrame, kept: np.ndarray, name: str) -> np.ndarray:
    """0/1 indicator of ``subpop(varname)`` for the kept rows (missing counts as out)."""
    if name not in data.columns:
        raise DataError(f"subpop() variable {name!r} not found in data")
    values = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)[kept]
    return np.where(np.isnan(values), 0.0, (values != 0).astype(float))
