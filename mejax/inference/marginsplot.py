"""Stata's ``marginsplot``: the margins with their confidence intervals as a pyplot figure.

The x axis is the first ``at()`` variable that varies (one series per factor level or
outcome), else the factor of ``margins a`` (its levels as ticks), else one point per
margin. Stata's options: ``noci``, ``title()``, ``xtitle()``, ``ytitle()``,
``recast(connected|line|scatter|bar)`` and ``saving(file[, replace])``
(:class:`mejax.graph.GraphOptions`).
"""

from __future__ import annotations

import numpy as np

from ..graph import GraphOptions, export, label_axes, level_ticks, new_figure
from ._common import level_text

__all__ = ["marginsplot"]


def marginsplot(margins_result, ax=None, *, noci: bool = False, title: str | None = None,
                xtitle: str | None = None, ytitle: str | None = None,
                recast: str | None = None, saving: str | None = None, replace: bool = False,
                options: GraphOptions | None = None):
    """Plot a margins result (``fit.margins(...)``); returns the matplotlib Figure.

    The figure is pyplot's current one (Jupyter shows it; ``plt.savefig`` saves it).
    ``options`` (Stata's, as the session parses them) replaces the keywords.
    """
    if options is None:
        options = GraphOptions(title=title, xtitle=xtitle, ytitle=ytitle, noci=noci,
                               recast=recast, saving=saving, replace=replace)
    table = margins_result["table"]
    est_col = "margin" if "margin" in table.columns else "dydx"
    terms = margins_result["terms"]
    factor = "#".join(terms[0]) if terms else None
    fig, ax = new_figure(ax=ax)
    varying = [c for c in table.columns if c.startswith("at:") and table[c].nunique() > 1]
    if varying:
        xcol = varying[0]
        keys = [c for c, use in (("outcome", True), ("level", bool(factor)))
                if use and c in table.columns and table[c].notna().any()]
        series = (table.groupby(keys if len(keys) > 1 else keys[0], sort=False, dropna=False)
                  if keys else [(None, table)])
        parts = [(None if key is None else _series_label(keys, key, factor),
                  part[xcol].astype(float).to_numpy(), part) for key, part in series]
        _draw(ax, parts, est_col, options, "connected")
        level_ticks(ax, table[xcol].astype(float), most=12)
        xlabel = xcol[3:]
        if keys:
            ax.legend()
    elif factor:
        x = np.arange(len(table), dtype=float)
        _draw(ax, [(None, x, table)], est_col, options, "connected")
        level_ticks(ax, x, labels=table["level"])
        xlabel = factor
    else:
        x = np.arange(len(table), dtype=float)
        _draw(ax, [(None, x, table)], est_col, options, "scatter")
        level_ticks(ax, x, labels=table.index)
        xlabel = None
    what = "Average marginal effects" if est_col == "dydx" else "Predictive margins"
    wrt = " ".join(margins_result["dydx"] or []) if est_col == "dydx" else None
    of = f" of {wrt or factor}" if (wrt or factor) else ""
    cis = "" if options.noci else f" with {level_text(margins_result['level'])}% CIs"
    ylabel = margins_result.get("ylabel", "Linear prediction, fixed portion")
    if est_col == "dydx":
        ylabel = ("Effects on linear prediction" if ylabel.startswith("Linear prediction")
                  else f"Effects on {ylabel}")
    label_axes(ax, options, f"{what}{of}{cis}", xlabel, ylabel)
    if options.saving:
        export(fig, options.saving, replace=options.replace)
    return fig


def _draw(ax, series, est_col: str, options: GraphOptions, default: str) -> None:
    """One plot per (label, x, rows): estimates as ``recast`` says, CIs as capped bars."""
    style = options.recast or default
    width = 0.8 / len(series)
    if style == "bar":
        xs = np.concatenate([x for _, x, _ in series])
        gaps = np.diff(np.unique(xs))
        width *= float(gaps.min()) if gaps.size else 1.0
    for i, (label, x, rows) in enumerate(series):
        est = rows[est_col].to_numpy(dtype=float)
        yerr = None if options.noci else np.vstack(
            [est - rows["ci_lower"].to_numpy(float), rows["ci_upper"].to_numpy(float) - est])
        color = f"C{i}"
        if style == "bar":
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar(x + offset, est, width=width, yerr=yerr, capsize=3, color=color,
                   label=label, alpha=0.85)
            continue
        marker = {"line": "", "scatter": "o", "connected": "o"}[style]
        line = "none" if style == "scatter" else "-"
        ax.errorbar(x, est, yerr=yerr, marker=marker, linestyle=line, capsize=3, color=color,
                    label=label)


def _series_label(keys: list[str], key, factor: str | None) -> str:
    values = key if isinstance(key, tuple) else (key,)
    names = {"outcome": "outcome", "level": factor}
    return ", ".join(f"{names[k]}={v}" for k, v in zip(keys, values))
