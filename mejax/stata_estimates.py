"""Tables over estimation results: ``estimates table`` and ``estat recovariance``.

Both read a result's ``fixef``, ``fixef_se`` and ``varcomp`` (one row per
variance, covariance and the residual variance), so they work for ``mixed``
and the ``me*`` commands alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .stata_expr import ExprError
from .text import fixed, fmt, stata_format

__all__ = ["estimates_table", "recovariance", "re_covariances"]


def _label(name: str, width: int = 12) -> str:
    return name if len(name) <= width else name[: width - 2] + "~" + name[-1]


def _number_format(spec: str | bool | None):
    """Stata's ``%9.3f``/``%9.0g`` display format as a function; default ``%9.0g``."""
    if spec in (None, True):
        return lambda x: fmt(x, 11)
    spec = str(spec).strip()
    try:
        stata_format(0.0, spec)
    except ValueError:
        raise ExprError(f"invalid format {spec!r} (use %w.df or %w.dg)", rc=120) from None
    return lambda x: stata_format(x, spec).strip().rjust(11)


def _stars(p: float, levels: tuple[float, ...]) -> str:
    """``*``, ``**``, ``***`` for p below each of Stata's star() levels."""
    return "*" * sum(bool(np.isfinite(p) and p < level) for level in levels)


def _rows(res) -> list[tuple[str, str, float, float, float]]:
    """(equation, label, b, se, p) for the fixed effects, then each variance parameter."""
    rows = []
    response = getattr(res.design, "response", "")
    for name in res.fixef.index:
        b, se = float(res.fixef[name]), float(res.fixef_se[name])
        p = 2 * special.ndtr(-abs(b / se)) if se > 0 else np.nan
        rows.append((response, str(name), b, se, p))
    for _, row in res.varcomp.iterrows():
        label = "var(e)" if row["group"] == "Residual" else str(row["label"])
        rows.append((str(row["group"]), label, float(row["estimate"]),
                     float(row["std_err"]), np.nan))
    return rows


_STATS = {"N": "nobs", "ll": "loglik", "aic": "aic", "bic": "bic", "k": "n_params"}


def estimates_table(models: list[tuple[str, object]], show: set[str],
                    formats: dict | None = None, stats: list[str] | None = None,
                    star: tuple[float, ...] | None = None,
                    keep: list[str] | None = None, drop: list[str] | None = None) -> str:
    """Stata's ``estimates table``: coefficients (``show`` adds "se", "t", "p") side by side;
    ``star`` marks p below each level with a star (Stata: not with se, t or p)."""
    formats = formats or {}
    b_fmt = _number_format(formats.get("b"))
    se_fmt = _number_format(formats.get("se"))
    equations: dict[str, list[str]] = {}  # equation -> its rows, first model's order first
    values: dict[str, dict[tuple[str, str], tuple]] = {}
    for name, res in models:
        values[name] = {}
        for eq, label, b, se, p in _rows(res):
            if (keep and label not in keep) or (drop and label in drop):
                continue
            labels = equations.setdefault(eq, [])
            if label not in labels:
                labels.append(label)
            values[name][(eq, label)] = (b, se, p)
    order = [(eq, label) for eq, labels in equations.items() for label in labels]
    col = 14 if star else 13  # room for three stars
    rule = "-" * 13 + "+" + "-" * (col * len(models))
    lines = ["", "-" * len(rule),
             f"{'Variable':>12} |" + "".join(f"{_label(n):^{col}}" for n, _ in models), rule]
    current_eq = None
    for eq, label in order:
        if eq != current_eq:
            if current_eq is not None:
                lines.append(rule)
            lines.append(f"{_label(eq):<12} |")
            current_eq = eq
        cells = [values[n].get((eq, label)) for n, _ in models]
        lines.append(f"{_label(label):>12} |" + "".join(
            f"{b_fmt(c[0]) if c else '':>11}{_stars(c[2], star) if c and star else '':<3}"
            if star else f"{b_fmt(c[0]) if c else '':>11}  " for c in cells))
        if "se" in show:
            lines.append(f"{'':>12} |" + "".join(f"{se_fmt(c[1]) if c else '':>11}  "
                                                for c in cells))
        if "t" in show:
            lines.append(f"{'':>12} |" + "".join(
                f"{(fixed(c[0] / c[1], 2) if c and c[1] > 0 else ''):>11}  " for c in cells))
        if "p" in show:
            lines.append(f"{'':>12} |" + "".join(
                f"{(f'{c[2]:11.4f}' if c and np.isfinite(c[2]) else ''):>11}  " for c in cells))
    if stats:
        lines.append(rule)
        for stat in stats:
            attr = _STATS.get(stat)
            if attr is None:
                raise ExprError(f"estimates table: statistic {stat} not available (use "
                                f"{', '.join(_STATS)})", rc=198)
            lines.append(f"{stat:>12} |" + "".join(
                f"{fmt(float(getattr(res, attr)), 11):<{col}}" for _, res in models))
    lines.append("-" * len(rule))
    if star:
        legend = "Legend: " + "; ".join(f"{'*' * (i + 1)} p<{level:g}"
                                        for i, level in enumerate(star))
    else:
        legend = "Legend: " + "/".join(["b"] + [s for s in ("se", "t", "p") if s in show])
    lines.append(legend.rjust(len(rule)))
    return "\n".join(lines)


def re_covariances(res, correlation: bool = False) -> dict[str, pd.DataFrame]:
    """Per random-effects level, its covariance (or correlation) matrix from ``varcomp``."""
    out: dict[str, pd.DataFrame] = {}
    frame = res.varcomp
    frame = frame[frame["group"] != "Residual"]
    for group, rows in frame.groupby("group", sort=False):
        is_var = rows["var2"].isna()
        names = list(dict.fromkeys(rows.loc[is_var, "var1"].astype(str)))
        matrix = pd.DataFrame(0.0, index=names, columns=names)
        for _, row in rows[is_var].iterrows():
            matrix.loc[row["var1"], row["var1"]] = row["estimate"]
        exchangeable = str(rows["structure"].iloc[0]).lower().startswith("exch")
        for _, row in rows[~is_var].iterrows():
            pairs = [(a, b) for a in names for b in names if a != b] if exchangeable \
                else [(row["var1"], row["var2"]), (row["var2"], row["var1"])]
            for a, b in pairs:
                matrix.loc[a, b] = row["estimate"]
        if correlation:
            sd = np.sqrt(np.diag(matrix.to_numpy()))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = matrix.to_numpy() / np.outer(sd, sd)
            matrix = pd.DataFrame(corr, index=names, columns=names)
        out[str(group)] = matrix
    return out


def recovariance(res, level: str | None = None, correlation: bool = False) -> str:
    """Stata's ``estat recovariance``: the lower triangle per level."""
    matrices = re_covariances(res, correlation)
    if level is not None:
        if level not in matrices:
            raise ExprError(f"level({level}) not found; levels are {', '.join(matrices)}",
                            rc=198)
        matrices = {level: matrices[level]}
    what = "correlation" if correlation else "covariance"
    blocks = []
    for group, matrix in matrices.items():
        names = list(matrix.index)
        lines = ["", f"Random-effects {what} matrix for level {group}", "",
                 f"{'':>12} |" + "".join(f"{_label(n, 10):>11}" for n in names),
                 "-" * 13 + "+" + "-" * (11 * len(names) + 1)]
        for i, row_name in enumerate(names):
            cells = "".join(fmt(float(matrix.iloc[i, j]), 11) for j in range(i + 1))
            lines.append(f"{_label(row_name):>12} |{cells}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
