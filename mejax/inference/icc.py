"""Stata's ``estat icc``: intraclass correlations of nested random-intercept models.

For levels 1 (top) .. m (lowest random level) with intercept variances σ²_1..σ²_m
and residual variance σ²_e, the ICC at level j is the correlation of two
responses sharing the level-j group (hence all groups above it):
ρ_j = (σ²_1 + ... + σ²_j) / (σ²_1 + ... + σ²_m + σ²_e). Standard errors come
from the covariance of the reported variances by the delta method; intervals
are built on the logit scale, as Stata does.

After ``melogit``, ``meprobit``, ``meologit``, ``meoprobit``, ``metobit`` and
``meintreg`` the same formula holds on the latent-response scale
y* = xβ + Σ_l b_l + ε: σ²_e is the level-1 error's variance, fixed (π²/3
logistic, 1 normal) or estimated (metobit's and meintreg's var(e.y), which then
enters the delta method). The result supplies the variances and their
covariance (``variance_estimates()``); this module only combines them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from ..spec.model import SpecError
from ..text import LINE, fmt


def _intercept_only(term) -> bool:
    return term.z.shape[1] == 1 and bool(np.all(term.z == 1.0))


def _nested_in(child: np.ndarray, parent: np.ndarray) -> bool:
    """True when every child group lies within a single parent group."""
    return bool((pd.Series(parent).groupby(child).nunique() <= 1).all())


def _own_name(term, parent) -> str:
    """The variable that names a level below ``parent`` (``class`` in ``class|school``)."""
    if parent is not None:
        vars_, above = term.group_vars, parent.group_vars
        if len(vars_) > len(above) and tuple(vars_[: len(above)]) == tuple(above):
            return ":".join(vars_[len(above):])
    return term.group_vars[-1] if len(term.group_vars) == 1 else term.label


def _levels_top_down(result) -> list[int]:
    """Random-effects terms from the top level down; errors where Stata refuses ICCs."""
    design = result.design
    if design.residual is not None:
        raise SpecError("estat icc is not allowed after mixed with residuals(); it needs "
                        "independent, homoskedastic errors")
    terms = design.re_terms
    if not terms:
        raise SpecError("estat icc needs at least one random-effects level")
    if not all(_intercept_only(t) for t in terms):
        raise SpecError("estat icc is only allowed after random-intercept models; this model "
                        "has random coefficients")
    order = sorted(range(len(terms)), key=lambda i: (terms[i].n_levels, len(terms[i].group_vars)))
    for upper, lower in zip(order, order[1:]):
        if not _nested_in(terms[lower].codes, terms[upper].codes):
            raise SpecError(
                f"estat icc needs nested random-effects levels; {terms[lower].label!r} is "
                f"not nested within {terms[upper].label!r} (crossed effects)"
            )
    return order


def _entry_index(result) -> dict[int, int]:
    """Position of each term's variance in the reported entries (block order)."""
    out, start = {}, 0
    for ti in result.report.order:
        struct = result.design.re_terms[ti].structure
        out[ti] = start
        start += len(struct.entries())
    return out


def icc(result) -> pd.DataFrame:
    """ICC per level (top level first) with delta-method SE and logit-scale interval."""
    order = _levels_top_down(result)
    values, cov = result.predictive.variances()
    where = _entry_index(result)
    idx = [where[i] for i in order] + [len(values) - 1]  # the level-1 variance last
    return icc_rows(result, order, values[idx], cov[np.ix_(idx, idx)])


def icc_rows(result, order: list[int], v: np.ndarray, cov: np.ndarray) -> pd.DataFrame:
    """ICC rows from the level variances ``v`` (top first, residual last) and their covariance."""
    design = result.design
    total = v.sum()
    z = float(special.ndtri(0.5 + result.level / 200))
    rows, names = [], []
    for j, ti in enumerate(order):
        parent = design.re_terms[order[j - 1]] if j else None
        names.append(_own_name(design.re_terms[ti], parent))
        num = v[: j + 1].sum()
        rho = num / total
        grad = np.full(len(v), -num / total**2)
        grad[: j + 1] += 1.0 / total
        se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            half = z * se / (rho * (1 - rho))
            lo, hi = special.expit(special.logit(rho) - half), special.expit(
                special.logit(rho) + half)
        rows.append({"level": "|".join(reversed(names)), "group": design.re_terms[ti].label,
                     "icc": float(rho), "std_err": se, "ci_lower": float(lo),
                     "ci_upper": float(hi)})
    return pd.DataFrame(rows)


def icc_title(result) -> str:
    """"Intraclass correlation" without covariates, "Residual intraclass correlation" with."""
    covariates = [n for n in result.design.x_names if n not in ("_cons", "(Intercept)")]
    return "Residual intraclass correlation" if covariates else "Intraclass correlation"


def render_icc(table: pd.DataFrame, level: float = 95.0,
               title: str = "Intraclass correlation") -> str:
    """Stata's ``estat icc`` table for the frame :func:`icc` returns."""
    level_text = f"{level:g}"
    head = f"{'Level':>28} |{'ICC':>11}{'Std. err.':>12}     [{level_text}% conf. interval]"
    rule = "-" * 29 + "+" + "-" * (LINE - 30)
    lines = ["", title, "", "-" * LINE, head, rule]
    for _, row in table.iterrows():
        label = str(row["level"])
        if len(label) > 28:
            label = label[:26] + "~" + label[-1]
        lines.append(f"{label:>28} |{fmt(row['icc'], 10):>11}{fmt(row['std_err'], 10):>11}"
                     f"{fmt(row['ci_lower'], 10):>13}{fmt(row['ci_upper'], 10):>12}")
    lines.append("-" * LINE)
    return "\n".join(lines)
