"""What every mejax graph shares: a pyplot figure, Stata's graph options, ticks and export.

Figures are made by :mod:`matplotlib.pyplot` so that Jupyter shows them inline and
``plt.savefig`` right after a plot saves that plot (it is pyplot's current figure).
:class:`GraphOptions` holds Stata's options common to ``marginsplot``, ``stcurve`` and
``bayesgraph`` (``title()``, ``xtitle()``, ``ytitle()``, ``noci``, ``recast()``,
``saving(file[, replace])``), from Python keywords or a Stata option list. matplotlib is
imported only when a figure is drawn: importing mejax or fitting a model never loads it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from ..errors import SpecError

__all__ = ["EXPORT_FORMATS", "GraphError", "GraphOptions", "export", "has_display",
           "label_axes", "level_ticks", "new_figure"]

# what ``graph export`` and ``saving()`` write, by the file's suffix (Stata's own .gph is not)
EXPORT_FORMATS = ("png", "pdf", "svg", "eps", "ps", "jpg", "jpeg", "tif", "tiff")
RECASTS = ("connected", "line", "scatter", "bar")
# Stata's option names -> their shortest abbreviation
_NAMES = {"title": "ti", "xtitle": "xti", "ytitle": "yti", "noci": "noci", "recast": "recast",
          "saving": "saving"}


class GraphError(SpecError):
    """A graph option or export that cannot be honoured (``rc`` is Stata's return code)."""

    def __init__(self, message: str, rc: int = 198):
        super().__init__(message)
        self.rc = rc


@dataclasses.dataclass(frozen=True)
class GraphOptions:
    """Stata's common graph options; None leaves the graph's own default."""

    title: str | None = None
    xtitle: str | None = None
    ytitle: str | None = None
    noci: bool = False
    recast: str | None = None  # connected (Stata's default for marginsplot), line, scatter, bar
    saving: str | None = None
    replace: bool = False

    def __post_init__(self):
        if self.recast is not None and self.recast not in RECASTS:
            raise GraphError(f"recast({self.recast}): use one of {', '.join(RECASTS)}")

    @classmethod
    def from_stata(cls, options: dict) -> tuple[GraphOptions, list[str]]:
        """(options, names not understood) from a parsed Stata option list.

        ``options`` maps lower-case names to their argument (True when bare), as
        the session's option parser gives them; quotes around titles are removed.
        """
        values, unknown = {}, []
        for name, arg in options.items():
            full = _full_name(name)
            if full is None:
                unknown.append(name)
            elif full == "noci":
                values["noci"] = True
            elif arg is True:
                raise GraphError(f"{full}() needs an argument, e.g. {full}(\"text\")")
            elif full == "saving":
                path, _, flags = str(arg).partition(",")
                values["saving"] = _unquote(path)
                values["replace"] = "replace" in flags.split()
            else:
                values[full] = _unquote(str(arg)) if full != "recast" else str(arg).strip()
        return cls(**values), unknown


def _full_name(name: str) -> str | None:
    for full, shortest in _NAMES.items():
        if full.startswith(name) and name.startswith(shortest):
            return full
    return None


def _unquote(text: str) -> str:
    """A Stata title without its quotes; several quoted strings are several lines."""
    text = text.strip()
    if text.startswith('`"') and text.endswith("\"'"):
        return text[2:-2]
    parts = re.findall(r'"([^"]*)"', text)
    if parts and re.fullmatch(r'(\s*"[^"]*"\s*)+', text):
        return "\n".join(parts)
    return text


def new_figure(nrows: int = 1, ncols: int = 1, figsize=None, ax=None, **kwargs):
    """(figure, axes) from pyplot, or ``ax``'s figure and ``ax`` when one is given.

    The new figure is pyplot's current one and a :class:`StataFigure` (shown once
    in Jupyter).
    """
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    from .figure import StataFigure

    return plt.subplots(nrows, ncols, figsize=figsize, FigureClass=StataFigure, **kwargs)


def label_axes(ax, options: GraphOptions, title: str, xtitle: str | None, ytitle: str | None
               ) -> None:
    """Title and axis titles: the user's where given, the graph's defaults otherwise."""
    ax.set_title(title if options.title is None else options.title)
    ax.set_xlabel((xtitle or "") if options.xtitle is None else options.xtitle)
    ax.set_ylabel((ytitle or "") if options.ytitle is None else options.ytitle)


def level_ticks(ax, values, labels=None, most: int = 25) -> bool:
    """Ticks at each distinct value when there are few (at() values, 0/1, factor levels).

    ``labels`` name the ticks at ``values`` (factor levels); without them the
    values are printed as Stata does (``1``, ``.5``). Returns whether the ticks were
    set: more than ``most`` values keep matplotlib's own ticks.
    """
    x = np.unique(np.asarray(values, dtype=float))
    if labels is None and x.size > most:
        return False
    ticks = x if labels is None else np.asarray(values, dtype=float)
    text = [_number(v) for v in ticks] if labels is None else [str(v) for v in labels]
    ax.set_xticks(ticks, text)
    return True


def _number(value: float) -> str:
    """A tick label as Stata writes numbers: ``1``, ``.5``, ``-.25``."""
    text = f"{value:g}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def has_display() -> bool:
    """True when matplotlib's backend shows figures (Jupyter inline, a GUI window)."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return "inline" in backend or backend not in ("agg", "pdf", "ps", "svg", "cairo",
                                                  "pgf", "template")


def export(fig, path: str | Path, replace: bool = False, width: int | None = None) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names (.png when it has none).

    As Stata's ``graph export``: an existing file is kept unless ``replace``.
    ``width`` is the image's width in pixels (raster formats).
    """
    path = Path(str(path))
    if not path.suffix:
        path = path.with_suffix(".png")
    kind = path.suffix[1:].lower()
    if kind not in EXPORT_FORMATS:
        raise GraphError(f"graph export {path.name}: cannot write .{kind} files; use one of "
                         + ", ".join(f".{k}" for k in EXPORT_FORMATS))
    if path.exists() and not replace:
        raise GraphError(f"file {path} already exists; add the replace option to overwrite it",
                         rc=602)
    if not path.parent.exists():
        raise GraphError(f"graph export: directory {path.parent} does not exist", rc=603)
    dpi = None if width is None else width / fig.get_size_inches()[0]
    fig.savefig(path, dpi=dpi if dpi is not None else "figure", bbox_inches="tight")
    return path
