"""The data-handling commands of :class:`mejax.StataSession` (a mixin).

``use``, ``import delimited``, ``save``, ``export delimited``, ``clear``,
``set``, ``generate``, ``replace``, ``keep``, ``drop``, ``sort``, ``rename``,
``list``, ``summarize``, ``tabulate`` and ``count`` work on ``session.data``;
the work itself is in :mod:`mejax.stata_data`, :mod:`mejax.stata_describe`
and :mod:`mejax.stata_files`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from . import stata_data, stata_describe, stata_files
from .stata_expr import ExprContext, ExprError, column_values, resolve_variable
from .stata_syntax import expand_varlist, row_mask, split_options, split_qualifiers

# `set` settings that change nothing in mejax: accepted with a note
_IGNORED_SETTINGS = ("more", "linesize", "varabbrev", "type", "maxiter", "matsize", "scheme",
                     "trace", "rmsg", "graphics", "emptycells", "maxvar", "niceness",
                     "segmentsize", "processors", "cformat", "pformat",
                     "sformat", "fvlabel", "dp", "logtype", "autotabgraphs", "printcolor",
                     "copycolor", "notifyuser", "update_query", "charset", "locale_ui")


class DataCommands:
    """Commands that read, change, show or write the data in memory."""

    data: pd.DataFrame
    rng: np.random.Generator
    default_level: float | None
    base_levels: str | None  # `set showbaselevels`: None (off), "baselevels" or "allbaselevels"
    r: dict
    context: Callable[[], ExprContext]  # StataSession's: data, _rc, _b[], e(), r()

    def _selected(self, rest: str, default_all: bool = True):
        """(varlist, selected rows, options) of ``cmd [varlist] [if] [in] [, options]``."""
        body, opts = split_options(rest)
        head, if_exp, in_text = split_qualifiers(body)
        names = expand_varlist(head, self.data.columns, allow_empty=True)
        if not names and default_all:
            names = list(self.data.columns)
        mask = row_mask(self.context(), if_exp, in_text)
        return names, mask, _words(opts)

    # ---- files ----------------------------------------------------------------------------
    def _cmd_use(self, rest: str, line: str):
        self.data, note = stata_files.use(rest)
        return note

    def _cmd_sysuse(self, rest: str, line: str):
        self.data, note = stata_files.use(rest, sysuse=True)
        return note

    def _cmd_webuse(self, rest: str, line: str):
        try:
            self.data, note = stata_files.use(rest, sysuse=True)
        except ExprError:
            raise ExprError(f"webuse {rest}: mejax cannot download Stata's example data; "
                            "use a local file or a bundled data set (mejax --list-datasets)",
                            rc=601) from None
        return note

    def _cmd_import(self, rest: str, line: str):
        kind, _, tail = rest.partition(" ")
        if not "delimited".startswith(kind.lower()) or len(kind) < 5:
            raise ExprError(f"import {kind}: only import delimited is supported (CSV); for "
                            ".dta files use `use`", rc=199)
        self.data, note = stata_files.import_delimited(tail)
        return note

    def _cmd_save(self, rest: str, line: str):
        return stata_files.save(self.data, rest)

    def _cmd_export(self, rest: str, line: str):
        kind, _, tail = rest.partition(" ")
        if not "delimited".startswith(kind.lower()) or len(kind) < 5:
            raise ExprError(f"export {kind}: only export delimited is supported (CSV)", rc=199)
        return stata_files.export_delimited(self.data, tail)

    # ---- settings ---------------------------------------------------------------------------
    def _cmd_version(self, rest: str, line: str):
        if not re.fullmatch(r"\d+(\.\d+)?", rest.strip()):
            raise ExprError("version: a version number is needed (version 17)", rc=198)
        return ""

    def _cmd_clear(self, rest: str, line: str):
        what = rest.strip().lower()
        if what not in ("", "all", "*", "results", "data"):
            raise ExprError(f"clear {what}: use clear, clear all or clear results", rc=198)
        if what != "results":
            self.data = pd.DataFrame()
        if what in ("all", "*", "results"):
            self.results, self.stored, self.last_margins = None, {}, None
        if what in ("all", "*"):
            self.figures = []
            self.r = {}
        return ""

    def _cmd_set(self, rest: str, line: str):
        words = rest.split()
        if not words:
            raise ExprError("set: a setting is needed (set seed 123, set obs 100, ...)", rc=198)
        setting, value = words[0].lower(), " ".join(words[1:])
        if setting == "seed":
            if not re.fullmatch(r"\d+", value):
                raise ExprError(f"set seed {value}: a non-negative integer is needed", rc=198)
            self.rng = np.random.default_rng(int(value))
            return ""
        if setting == "obs":
            self.data = stata_data.set_obs(self.data, value)
            return ""
        if setting == "level":
            level = float(value)
            if not 10 <= level <= 99.99:
                raise ExprError(f"set level {value}: must be between 10 and 99.99", rc=198)
            self.default_level = level
            return ""
        if setting == "showbaselevels":
            choices = {"off": None, "on": "baselevels", "all": "allbaselevels"}
            if value.lower() not in choices:
                raise ExprError(f"set showbaselevels {value}: use on, off or all", rc=198)
            self.base_levels = choices[value.lower()]
            return ""
        if setting in _IGNORED_SETTINGS:
            return f"(set {setting} ignored: it has no effect in mejax)"
        raise ExprError(f"set {setting}: setting not supported (supported: seed, obs, level, "
                        f"showbaselevels; ignored: {', '.join(_IGNORED_SETTINGS[:6])}, ...)",
                        rc=198)

    # ---- changing the data ---------------------------------------------------------------------
    def _cmd_generate(self, rest: str, line: str):
        self.data, note = stata_data.generate(self.data, rest, self.context())
        return note

    def _cmd_replace(self, rest: str, line: str):
        self.data, note = stata_data.replace(self.data, rest, self.context())
        return note

    def _cmd_keep(self, rest: str, line: str):
        self.data, note = stata_data.keep_drop(self.data, rest, self.context(), keep=True)
        return note

    def _cmd_drop(self, rest: str, line: str):
        self.data, note = stata_data.keep_drop(self.data, rest, self.context(), keep=False)
        return note

    def _cmd_sort(self, rest: str, line: str):
        names = expand_varlist(rest, self.data.columns)
        self.data = self.data.sort_values(names, kind="stable", na_position="last")
        return ""

    def _cmd_rename(self, rest: str, line: str):
        words = rest.split()
        if len(words) != 2:
            raise ExprError("rename: use rename oldname newname", rc=198)
        old = resolve_variable(words[0], self.data.columns)
        if words[1] in self.data.columns:
            raise ExprError(f"variable {words[1]} already defined", rc=110)
        self.data = self.data.rename(columns={old: words[1]})
        return ""

    # ---- showing the data ----------------------------------------------------------------------
    def _cmd_list(self, rest: str, line: str):
        names, mask, options = self._selected(rest)
        _only(options, {"noobs", "clean", "noheader", "sep", "separator"}, "list")
        positions = np.flatnonzero(mask) + 1
        return stata_describe.list_text(self.data[mask], names, positions, "noobs" in options)

    def _cmd_summarize(self, rest: str, line: str):
        names, mask, options = self._selected(rest)
        _only(options, {"meanonly"}, "summarize")
        frame = self.data[mask]
        if names:
            values = column_values(frame[names[-1]])
            x = values[~np.isnan(values)] if values.dtype != object else np.array([])
            self.r = {"N": float(len(x)), "mean": float(x.mean()) if len(x) else np.nan,
                      "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
                      "min": float(x.min()) if len(x) else np.nan,
                      "max": float(x.max()) if len(x) else np.nan, "sum": float(x.sum())}
        if "meanonly" in options:
            return ""
        return stata_describe.summarize_text(frame, names)

    def _cmd_tabulate(self, rest: str, line: str):
        names, mask, options = self._selected(rest, default_all=False)
        _only(options, {"missing"}, "tabulate")
        if len(names) != 1:
            raise ExprError("tabulate: one variable for a one-way table (two-way tables are "
                            "not supported yet)", rc=198)
        self.r = {"N": float(mask.sum())}
        return stata_describe.tabulate_text(self.data[mask], names[0], "missing" in options)

    def _cmd_count(self, rest: str, line: str):
        names, mask, options = self._selected(rest, default_all=False)
        if names or options:
            raise ExprError("count: use count [if] [in]", rc=198)
        self.r = {"N": float(mask.sum())}
        return f"  {int(mask.sum()):,}"


def _words(options: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+(?=\(|\s|$)", options)}


def _only(options: set[str], allowed: set[str], command: str) -> None:
    bad = sorted(options - allowed)
    if bad:
        raise ExprError(f"{command}: option {bad[0]} not supported"
                        + (f" (supported: {', '.join(sorted(allowed))})" if allowed else ""),
                        rc=198)
