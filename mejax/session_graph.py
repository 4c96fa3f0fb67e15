"""The graph commands of :class:`mejax.StataSession` (a mixin).

``marginsplot``, ``stcurve`` and ``bayesgraph`` draw a pyplot figure, keep it in
``session.figures`` and show it where there is a display (Jupyter shows it under the
cell); ``graph export file.png|pdf|svg[, replace width(#)]`` writes the last one,
``graph drop _all`` / ``graph close`` forget or close them. Stata's graph options
(``title()``, ``xtitle()``, ``ytitle()``, ``noci``, ``recast()``,
``saving(file[, replace])``) are read by :class:`mejax.graph.GraphOptions`; other graph
options are named in a note and not applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .graph import GraphError, GraphOptions, export, has_display
from .inference._common import option_items
from .inference.margins import marginsplot
from .stata_syntax import split_options

_STCURVE_KINDS = ("survival", "hazard", "cumhaz")


class GraphCommands:
    """Commands that draw, keep, show and export figures."""

    figures: list
    last_margins: object
    _need_results: Callable[[str], object]  # StataSession's: the last estimates, or an error

    def _cmd_marginsplot(self, rest: str, line: str):
        if self.last_margins is None:
            raise GraphError("marginsplot: previous command was not margins", rc=301)
        options, ignored = _graph_options(split_options(rest)[1])
        return self._keep(marginsplot(self.last_margins, options=options), options, ignored)

    def _cmd_stcurve(self, rest: str, line: str):
        """``stcurve, survival|hazard|cumhaz [at(x=1 z=0)] [graph options]`` after mestreg."""
        res = self._need_results("stcurve")
        items = _items(split_options(rest)[1])
        kinds = [k for k in _STCURVE_KINDS if k in items]
        if len(kinds) != 1:
            raise GraphError("stcurve needs one of survival, hazard or cumhaz")
        at = None
        if "at" in items:
            at = {}
            for item in str(items["at"]).split():
                name, sep, value = item.partition("=")
                if not sep:
                    raise GraphError(f"stcurve: at({items['at']}) needs name=value pairs")
                at[name] = float(value)
        rest_items = {k: v for k, v in items.items() if k not in (*_STCURVE_KINDS, "at")}
        options, ignored = GraphOptions.from_stata(rest_items)
        return self._keep(res.stcurve(kinds[0], at, options=options), options, ignored)

    def _cmd_bayesgraph(self, rest: str, line: str):
        from .stata_bayes import graph as bayes_graph  # the sampler stack loads on first use

        options, ignored = _graph_options(split_options(rest)[1])
        figure = bayes_graph(self._need_results("bayesgraph"), rest, options)
        return self._keep(figure, options, ignored)

    def _cmd_graph(self, rest: str, line: str):
        """``graph export file[, replace width(#) as(fmt)]``, ``graph drop _all``,
        ``graph close``."""
        body, opts = split_options(rest)
        sub, _, target = body.partition(" ")
        sub = sub.lower()
        if sub in ("export", "exp"):
            return self._export(target.strip(), _items(opts))
        if sub == "drop" and target.strip() != "_all":
            raise GraphError("graph drop: mejax's graphs have no names; use graph drop _all")
        if sub in ("drop", "close"):
            import matplotlib.pyplot as plt

            for fig in self.figures:
                plt.close(fig)
            if sub == "drop":
                self.figures = []
            return ""
        raise GraphError(f"graph {sub}: not supported; mejax runs graph export, graph drop "
                         "_all and graph close (figures are drawn by marginsplot, stcurve and "
                         "bayesgraph)", rc=199)

    # ---- helpers ----------------------------------------------------------------------------
    def _keep(self, figure, options: GraphOptions, ignored: list[str]) -> str:
        """Keep the figure(s), show them where there is a display, and say so."""
        figures = figure if isinstance(figure, list) else [figure]
        self.figures += figures
        shown = has_display()
        if shown:
            import matplotlib.pyplot as plt

            if "inline" not in plt.get_backend().lower():  # a window; Jupyter draws its own
                for fig in figures:
                    fig.show()
        numbers = ", ".join(str(len(self.figures) - len(figures) + i + 1)
                            for i in range(len(figures)))
        lines = [f"(option {name} not supported by mejax; ignored)" for name in ignored]
        if options.saving:
            lines.append(f"(file {options.saving} saved)")
        elif not shown:
            lines.append(f"(figure {numbers} in session.figures; no display here: "
                         "graph export file.png saves it)")
        return "\n".join(lines)

    def _export(self, target: str, items: dict) -> str:
        if not target:
            raise GraphError("graph export needs a file name: graph export file.png, replace")
        if not self.figures:
            raise GraphError("graph export: no graph to export (run marginsplot, stcurve or "
                             "bayesgraph first)", rc=601)
        bad = [k for k in items if k not in ("replace", "width", "as")]
        if bad:
            raise GraphError(f"graph export: option {bad[0]} not supported (replace, width(#), "
                             "as(png|pdf|svg))")
        path = Path(target.strip('"'))
        if isinstance(items.get("as"), str):
            path = path.with_suffix("." + items["as"].strip().lower())
        width = items.get("width")
        try:
            width = None if width is None else int(width)
        except ValueError:
            raise GraphError(f"graph export: width({width}) needs a number of pixels") from None
        written = export(self.figures[-1], path, replace="replace" in items, width=width)
        return f"(file {written} written in {written.suffix[1:].upper()} format)"


def _items(text: str) -> dict:
    """Stata options as {lower-case name: argument or True}."""
    return {name.lower(): True if arg is None else arg for name, arg in option_items(text)}


def _graph_options(text: str) -> tuple[GraphOptions, list[str]]:
    return GraphOptions.from_stata(_items(text))
