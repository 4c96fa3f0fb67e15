"""The table and Stata text of ``margins`` (every model's, ``menl``'s too)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..spec.design import level_label
from ..text import general
from ._common import HypothesisError, PostResult
from .counterfactual import fixed_vars
from .counterfactual import is_factor as _is_factor_var
from .hypothesis import _estimate_table
from .marginsplot import marginsplot


class MarginsResult(PostResult):
    """Margins (a dict of numbers with Stata's text) that can draw themselves."""

    def plot(self, ax=None, **options):
        """Stata's ``marginsplot`` of these margins (options: ``noci``, ``title``,
        ``xtitle``, ``ytitle``, ``recast``, ``saving``, ``replace``); a Figure."""
        return marginsplot(self, ax, **options)


def render_margins(result, plan: dict, rows: list[dict], est, se, J, df,
                   expression: str = "Linear prediction, fixed portion, predict()",
                   ylabel: str = "Linear prediction, fixed portion",
                   outcomes: list[str] | None = None) -> MarginsResult:
    """The margins PostResult: table, Stata text and what marginsplot needs.

    Rows may carry an ``outcome`` (Stata's ``_predict``, one per predicted
    outcome, listed in ``outcomes`` for the header).
    """
    level, scenarios, at = plan["level"], plan["scenarios"], plan["at"]
    dydx, term_vars = plan["dydx"], plan["term_vars"]
    if not rows:
        raise HypothesisError("margins: nothing to compute")
    keys = pd.DataFrame(rows)
    has_at = bool(at) and len(scenarios) > 1
    has_terms = any(term_vars)
    has_out = any(r.get("outcome") is not None for r in rows)
    # row labels and group headers, as Stata
    labels, groups = [], []
    for r in rows:
        parts = [p for p in (r.get("effect_level"), r.get("outcome"),
                             str(r["_at"]) if has_at else None, r["level"]) if p]
        if dydx is not None:
            groups.append(r["dydx"] if parts else None)
            labels.append(" ".join(parts) if parts else r["dydx"])
        elif has_at or has_terms or has_out:
            groups.append(_abbreviate("#".join((["_predict"] if has_out else [])
                                               + (["_at"] if has_at else [])
                                               + ([r["term"]] if has_terms else []))))
            labels.append(" ".join(parts))
        else:
            groups.append(None)
            labels.append("_cons")
    header = "dy/dx" if dydx is not None else "Margin"
    title = ["             |            Delta-method"]
    frame, lines = _estimate_table(result, "", labels, est, se, df, level, header=header,
                                   groups=groups if any(g for g in groups) else None,
                                   title_row=title)
    frame = frame.rename(columns={"estimate": "margin" if dydx is None else "dydx"})
    for col in keys.columns:
        frame[col if col not in frame.columns else f"key_{col}"] = keys[col].to_numpy()
    kind = "Average marginal effects" if dydx is not None else (
        "Adjusted predictions" if has_at and not has_terms and _all_pinned(result, scenarios)
        else "Predictive margins")
    head = ["", f"{kind:<55}Number of obs = {result.nobs:>6,}", ""]
    if outcomes:
        head += outcomes
    else:
        head.append(f"Expression: {expression}")
    if dydx is not None:
        head.append(f"dy/dx wrt:  {' '.join(dydx)}")
    if at:
        head.append("")
        for i, sc in enumerate(scenarios):
            pieces = [f"{k} = {_show(v)}" for k, v in sc.items()]
            prefix = f"{i + 1}._at: " if len(scenarios) > 1 else "At: "
            head.append(prefix + ("\n" + " " * len(prefix)).join(pieces))
    notes = []
    if dydx is not None and any(_is_factor_var(result, v) for v in dydx):
        notes.append("Note: dy/dx for factor levels is the discrete change from the base level.")
    text = "\n".join(head + [""] + lines + notes)
    values = {"table": frame, "J": J, "df": df, "level": level, "scenarios": scenarios,
              "terms": [t for t in term_vars if t], "dydx": dydx, "kind": kind,
              "expression": expression, "ylabel": ylabel}
    return MarginsResult(values, text)


def _abbreviate(name: str, width: int = 12) -> str:
    """Stata's abbreviation of a long row header: its start, ``~``, its end."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "~" + name[-tail:]


def _all_pinned(result, scenarios) -> bool:
    """True when at() fixes every variable (Stata then says 'Adjusted predictions')."""
    return all(set(fixed_vars(result)) <= set(sc) for sc in scenarios)


def _show(value) -> str:
    if isinstance(value, (float, np.floating)):
        return general(value, 9)
    return level_label(value)
