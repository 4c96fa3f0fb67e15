"""What Stata prints about the data: ``list``, ``summarize``, ``tabulate`` (one-way), ``count``.

Each takes the selected rows (a DataFrame already cut by ``if``/``in``) and
returns Stata's layout as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stata_expr import ExprError, column_values
from .text import fmt

__all__ = ["list_text", "summarize_text", "tabulate_text"]


def _cell(value, numeric: bool) -> str:
    if numeric:
        return fmt(float(value), 10).strip()
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _is_numeric(col: pd.Series) -> bool:
    return column_values(col).dtype != object


def list_text(frame: pd.DataFrame, names: list[str], positions: np.ndarray,
              noobs: bool = False) -> str:
    """Stata's boxed ``list``: one row per observation, a rule every five rows."""
    if not len(frame):
        return ""
    numeric = {c: _is_numeric(frame[c]) for c in names}
    cells = {c: [_cell(v, numeric[c]) for v in column_values(frame[c])] for c in names}
    widths = {c: max([len(c)] + [len(v) for v in cells[c]]) for c in names}

    def row(values: dict) -> str:
        parts = [values[c].rjust(widths[c]) if numeric[c] else values[c].ljust(widths[c])
                 for c in names]
        return "| " + "   ".join(parts) + " |"

    inner = len(row({c: "" for c in names})) - 2
    width = max(4, len(str(int(positions.max()))) + 1)  # Stata's "  1. |"
    pad = " " * (width + 1) if not noobs else " "
    lines = ["", pad + "+" + "-" * inner + "+",
             pad + row({c: c.rjust(widths[c]) if numeric[c] else c.ljust(widths[c])
                        for c in names}),
             pad + "|" + "-" * inner + "|"]
    for k, pos in enumerate(positions):
        if k and k % 5 == 0:
            lines.append(pad + "|" + "-" * inner + "|")
        label = f"{pos}.".rjust(width) + " " if not noobs else " "
        lines.append(label + row({c: cells[c][k] for c in names}))
    lines.append(pad + "+" + "-" * inner + "+")
    return "\n".join(lines)


def _label(name: str, width: int = 12) -> str:
    return name if len(name) <= width else name[: width - 2] + "~" + name[-1]


def summarize_text(frame: pd.DataFrame, names: list[str]) -> str:
    """Stata's ``summarize``: Variable, Obs, Mean, Std. dev., Min, Max (strings: Obs 0)."""
    head = f"{'Variable':>12} |{'Obs':>11}{'Mean':>12}{'Std. dev.':>13}{'Min':>10}{'Max':>11}"
    lines = ["", head, "-" * 13 + "+" + "-" * 57]
    for name in names:
        values = column_values(frame[name])
        if values.dtype == object:
            lines.append(f"{_label(name):>12} |{0:>11}")
            continue
        x = values[~np.isnan(values)]
        n = len(x)
        if n == 0:
            lines.append(f"{_label(name):>12} |{0:>11}")
            continue
        sd = float(np.std(x, ddof=1)) if n > 1 else np.nan
        lines.append(f"{_label(name):>12} |{n:>11}{fmt(x.mean(), 12)}{fmt(sd, 12)}"
                     f"{fmt(x.min(), 11)}{fmt(x.max(), 11)}")
    return "\n".join(lines)


def tabulate_text(frame: pd.DataFrame, name: str, missing: bool = False) -> str:
    """Stata's one-way ``tabulate``: Freq., Percent, Cum. per value, and the total."""
    col = frame[name]
    values = column_values(col)
    is_str = values.dtype == object
    absent = (values == "") if is_str else np.isnan(values)
    if isinstance(col.dtype, pd.CategoricalDtype):
        order = [c for c in col.cat.categories if (col == c).any()]
        counts = [(str(c) if is_str else fmt(float(c), 11).strip(), int((col == c).sum()))
                  for c in order]
    else:
        kept = values[~absent]
        uniq, freq = np.unique(kept, return_counts=True)
        counts = [(str(u) if is_str else fmt(float(u), 11).strip(), int(f))
                  for u, f in zip(uniq, freq)]
    if missing and absent.any():
        counts.append(("" if is_str else ".", int(absent.sum())))
    total = sum(f for _, f in counts)
    if total == 0:
        raise ExprError("no observations", rc=2000)
    lines = ["", f"{_label(name):>12} |{'Freq.':>11}{'Percent':>12}{'Cum.':>12}",
             "-" * 13 + "+" + "-" * 35]
    cum = 0.0
    for label, f in counts:
        pct = 100.0 * f / total
        cum += pct
        lines.append(f"{_label(label):>12} |{f:>11}{pct:>12.2f}{cum:>12.2f}")
    lines += ["-" * 13 + "+" + "-" * 35, f"{'Total':>12} |{total:>11}{100.0:>12.2f}"]
    return "\n".join(lines)
