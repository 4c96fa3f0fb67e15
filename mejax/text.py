"""Stata's number formats and blocks of Stata-style text (host side, no mejax imports).

Every layer that prints (post-estimation, results, sessions) formats numbers
the same way, so the formatting lives at the bottom of the package.

Stata's ``%w.0g`` (the default of every coefficient table, ``%9.0g``) sets aside
two of its ``w`` positions for a sign and a decimal point and fills the other
``w - 2`` with digits, leading zeros of a fraction and ``e+XX`` included; it
drops the leading zero of a fraction (``.0003142``) and trailing zeros of fixed
notation, and switches to ``e`` notation only when that shows more significant digits
(W. Gould, Statalist 2003-04, "Determining the width of a formatted value").
``%w.df`` keeps the leading zero (``0.500``) unless the width has no room for it.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np

__all__ = ["LINE", "StataText", "fixed", "fmt", "general", "html_block", "progress_bar",
           "stata_format"]

LINE = 78


class StataText(str):
    """A block of Stata-style output that shows itself as text in a REPL."""

    def __repr__(self) -> str:
        return str(self)


def _strip_zeros(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _fraction(text: str) -> str:
    """``0.5`` -> ``.5``, ``-0.5`` -> ``-.5`` (Stata's %g shows no leading zero)."""
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return text


def _fixed_digits(mag: float, digits: int) -> str | None:
    """|x| in fixed notation with at most ``digits`` digits (leading zeros of a fraction
    counted), or None when it does not fit or shows fewer digits than ``e`` notation."""
    if mag >= 1:
        n_int = int(math.floor(math.log10(mag))) + 1
        if n_int > digits:
            return None
        text = f"{mag:.{digits - n_int}f}"
        if len(text.replace(".", "")) > digits:  # rounding carried into a new digit
            if n_int + 1 > digits:
                return None
            text = f"{mag:.{max(digits - n_int - 1, 0)}f}"
        return _strip_zeros(text)
    leading = -int(math.floor(math.log10(mag))) - 1  # zeros after the point
    shown = digits - leading  # significant digits fixed notation can show
    if shown < 1 or shown < _e_digits(mag, digits):
        return None
    text = f"{mag:.{digits}f}"
    if float(text) == 0:
        return None
    return _strip_zeros(text)


def _e_digits(mag: float, digits: int) -> int:
    """Significant digits ``e`` notation shows within ``digits`` positions."""
    exponent = abs(int(math.floor(math.log10(mag))))
    return digits - (2 + max(2, len(str(exponent))))


def _e_text(mag: float, digits: int) -> str:
    sig = max(_e_digits(mag, digits), 1)
    mant, exp = f"{mag:.{sig - 1}e}".split("e")
    return f"{mant}e{exp[0]}{exp[1:].lstrip('0').rjust(2, '0')}"


def general(x, width: int = 9) -> str:
    """Stata's ``%{width}.0g`` without padding: ``general(.00031421) == ".0003142"``."""
    if x is None:
        return "."
    x = float(x)
    if not np.isfinite(x):
        return "."
    if x == 0:
        return "0"
    digits = max(width - 2, 1)
    mag = abs(x)
    text = _fixed_digits(mag, digits)
    if text is None:
        text = _e_text(mag, digits)
    text = _fraction(text)
    return ("-" + text) if x < 0 and text != "0" else text


def fmt(x, width: int = 10) -> str:
    """A table cell: Stata's ``%9.0g`` right-aligned in ``width`` characters."""
    return general(x, 9).rjust(width)


def fixed(x, decimals: int = 2, width: int = 0, commas: bool = False) -> str:
    """Stata's ``%{width}.{decimals}f``: ``fixed(45.04646) == "45.05"``."""
    if x is None or not np.isfinite(x):
        return ".".rjust(width)
    text = f"{float(x):{',' if commas else ''}.{decimals}f}"
    if width and len(text) > width:
        text = _fraction(text)
    return text.rjust(width)


_FORMAT = re.compile(r"%(-?)(0?)(\d+)\.(\d+)([fge])(c?)")


def stata_format(x, spec: str) -> str:
    """``x`` in a Stata display format (``%9.3f``, ``%10.0g``, ``%-9.2f``, ``%12.0gc``)."""
    m = _FORMAT.fullmatch(spec.strip())
    if m is None:
        raise ValueError(f"invalid format {spec!r} (use %w.df, %w.dg or %w.de)")
    left, zero, width, decimals, kind, commas = m.groups()
    width, decimals = int(width), int(decimals)
    if x is None or not np.isfinite(float(x)):
        text = "."
    elif kind == "f":
        text = fixed(x, decimals, width, bool(commas)).strip()
        if zero and len(text) < width:
            sign = "-" if text.startswith("-") else ""
            text = sign + text.lstrip("-").rjust(width - len(sign), "0")
    elif kind == "e":
        text = f"{float(x):.{decimals}e}"
    elif decimals == 0:
        text = general(x, width)
        if commas and "e" not in text and abs(float(x)) >= 1000:
            whole, _, frac = text.partition(".")
            text = f"{int(whole):,}" + (f".{frac}" if frac else "")
    else:  # %w.dg: at most d significant digits
        text = f"{float(x):.{decimals}g}"
        text = text if "e" in text else _fraction(text)
    return text.ljust(width) if left else text.rjust(width)


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
