"""The Figure class of mejax's plots: matplotlib's, shown once in Jupyter.

A figure made by pyplot under Jupyter's inline backend is drawn under its cell when
the cell ends; returned as the cell's value it would be drawn a second time. This
class draws itself as an image and, under the inline backend, leaves pyplot (as the
backend does after drawing), so whichever comes first shows it and the other finds
nothing to show.
Imported when the first figure is made: matplotlib never loads with mejax.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["StataFigure"]


class StataFigure(Figure):
    """A matplotlib Figure that Jupyter shows once, as an image."""

    def _ipython_display_(self) -> None:
        from IPython.display import Image, display

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        display(Image(data=buffer.getvalue()))
        if "inline" in plt.get_backend().lower():
            plt.close(self)  # shown: the end of the cell must not show it again
