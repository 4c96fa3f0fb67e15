"""Stata's number format and blocks of Stata-style text (host side, no mejax imports).

Every layer that prints (post-estimation, results, sessions) formats numbers
the same way, so the formatting lives at the bottom of the package.
"""

from __future__ import annotations

import html

import numpy as np

__all__ = ["LINE", "StataText", "fmt", "html_block"]

LINE = 78


class StataText(str):
    """A block of Stata-style output that shows itself as text in a REPL."""

    def __repr__(self) -> str:
        return str(self)


def fmt(x, width: int = 10) -> str:
    """Stata's %9.0g-like number: up to 7 significant digits in ``width`` characters."""
    if x is None or not np.isfinite(x):
        return ".".rjust(width)
    for digits in range(7, 0, -1):
        text = f"{x:.{digits}g}"
        if "e" in text:
            mant, exp = text.split("e")
            text = f"{mant}e{exp[0]}{exp[1:].lstrip('0').rjust(2, '0')}"
        if text.startswith("0."):
            text = text[1:]
        elif text.startswith("-0."):
            text = "-" + text[2:]
        if len(text) <= width - 1:
            return text.rjust(width)
    return text.rjust(width)


def html_block(text: str) -> str:
    """A notebook's HTML view of Stata's text: the same characters, in a monospace block.

    Results show in Jupyter exactly as their text table (one formatting path), kept
    from wrapping so the columns stay aligned.
    """
    return ('<pre style="font-family: monospace; white-space: pre; line-height: 1.25; '
            f'overflow-x: auto">{html.escape(str(text))}</pre>')


def progress_bar(iterable=None, **options):
    """A tqdm progress bar: Jupyter's widget where ipywidgets is installed, else text.

    ``tqdm.auto`` without ipywidgets warns "IProgress not found" in notebooks and
    falls back to text anyway; this picks the text bar without the warning.
    """
    try:
        import ipywidgets  # noqa: F401  (only asked whether it is installed)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm(iterable, **options)
