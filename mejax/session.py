"""A small Stata session: run ``mixed`` or ``melogit``, ``mepoisson``, ... and their
post-estimation commands in order.

``StataSession(data).run("mixed y x || id:")`` keeps the last estimates (as
Stata's ``e()``), stored estimates, new variables from ``predict`` and the
figures of ``marginsplot``, ``stcurve`` and ``bayesgraph`` (``graph export`` saves
them); ``run_do`` runs a do-file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .api import stata
from .inference import icc as icc_mod
from .inference._common import option_items, resolve_name
from .inference.hypothesis import estat_ic, lrtest
from .inference.predict_command import predict_command
from .menl_api import menl
from .results.menl_result import MenlResult
from .results.mixed_result import MixedResult
from .session_data import DataCommands
from .session_graph import GraphCommands
from .spec.family import COMMANDS as GLMM_COMMANDS
from .spec.formula import split_top
from .spec.model import DataError, SpecError
from .spec.st_records import counting_process
from .spec.survey import SurveyDesign, parse_svyset
from .spec.survival import StSettings, parse_stset
from .stata_estimates import estimates_table, recovariance
from .stata_expr import ExprContext, evaluate
from .stata_syntax import split_options
from .text import StataText, general, stata_format

__all__ = ["StataSession", "SessionError", "parse_do"]


class SessionError(SpecError):
    """A command the session cannot run (unknown, misspelled, or missing estimates).

    ``rc`` is Stata's return code (199: unrecognized command, 301: no estimates).
    """

    def __init__(self, message: str, rc: int = 198):
        super().__init__(message)
        self.rc = rc


class _ExitDo(Exception):
    """``exit`` in a do-file: stop running it, without an error."""


# Stata command words: full name -> shortest abbreviation Stata accepts
_ABBREVIATIONS = {
    "mixed": "mixed", "xtmixed": "xtmixed", "predict": "predict", "estat": "estat",
    "test": "test", "testparm": "testparm", "lincom": "lincom", "contrast": "contrast",
    "pwcompare": "pwcompare", "margins": "margins", "marginsplot": "marginsplot",
    "estimates": "est", "lrtest": "lrtest", "display": "di",
    "version": "vers", "clear": "clear", "set": "set", "use": "use", "sysuse": "sysuse",
    "webuse": "webuse", "import": "import", "save": "sa", "export": "export",
    "generate": "g", "replace": "replace", "keep": "keep", "drop": "drop", "sort": "so",
    "rename": "ren", "list": "l", "summarize": "su", "tabulate": "ta", "count": "cou",
    "exit": "exit", "log": "log", "svyset": "svyset", "svy": "svy", "menl": "menl",
    "stset": "stset", "stcurve": "stcurve",
    "bayes": "bayes", "bayesstats": "bayesstats", "bayestest": "bayestest",
    "bayesgraph": "bayesgraph", "graph": "gr",
}
_ABBREVIATIONS.update({cmd: cmd for cmd in GLMM_COMMANDS})  # melogit, mepoisson, ... fit too
_ESTIMATION = {"mixed", "xtmixed", "menl", *GLMM_COMMANDS}
_ALIASES = {"pred": "predict", "xtmixed": "mixed", "estimate": "estimates",
            **{cmd: "mixed" for cmd in GLMM_COMMANDS}}
_PREDICT_KINDS = ("xb", "fitted", "residuals", "rstandard", "reffects", "stdp")
_PREFIXES = {"quietly": "qui", "noisily": "n", "capture": "cap"}


def _command_name(word: str) -> str | None:
    """The full command a (possibly abbreviated) word stands for."""
    word = word.lower()
    if word in _ALIASES:
        return _ALIASES[word]
    for full, shortest in _ABBREVIATIONS.items():
        if full.startswith(word) and word.startswith(shortest):
            return full
    return None


def _prefix(word: str) -> str | None:
    """``quietly``, ``noisily`` or ``capture`` if ``word`` abbreviates one of them."""
    word = word.lower()
    for full, shortest in _PREFIXES.items():
        if full.startswith(word) and word.startswith(shortest):
            return full
    return None


def _in_command(err: Exception, index: int, command: str, rc: int) -> Exception:
    """The same error, saying which do-file command raised it."""
    message = f"command {index} ({command!r}): {err}"
    try:
        new = type(err)(message)
    except TypeError:
        new = SessionError(message)
    new.rc = rc
    return new


def supported_commands() -> list[str]:
    """The commands a session runs, for error messages."""
    return sorted(set(_ABBREVIATIONS) - {"xtmixed", "meqrlogit", "meqrpoisson"})


def parse_do(text: str) -> list[str]:
    """Commands of a do-file: ``/* */``, ``//`` and ``*`` comments, ``///`` continuations,
    ``#delimit ;`` (commands end at ``;``) and ``#delimit cr``."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    commands, pending, semicolon = [], "", False
    for raw in text.splitlines():
        cont = re.search(r"\s*///.*$", raw)
        line = re.sub(r"(^|\s)//.*$", "", raw[: cont.start()] if cont else raw)
        delimit = re.fullmatch(r"\s*#d(?:elimit)?\s+(;|cr)\s*", line)
        if delimit:
            semicolon = delimit.group(1) == ";"
            continue
        if not pending.strip() and line.strip().startswith("*"):
            continue
        if semicolon:
            pending += line + " "
            *done, pending = pending.split(";")
            commands.extend(c for c in done if c.strip())
            continue
        if cont:
            pending += line + " "
            continue
        line, pending = pending + line, ""
        if line.strip():
            commands.append(line)
    if pending.strip():
        commands.append(pending)
    return [" ".join(c.split()) for c in commands if not c.strip().startswith("*")]


class StataSession(DataCommands, GraphCommands):
    """Run Stata command lines on one DataFrame, keeping estimates between commands.

    ``data`` is copied (None: start with no data, as after ``clear``); ``predict``,
    ``generate`` and the other data commands change ``session.data``. ``echo``
    prints each command's output as well as returning it. ``session.rc`` is
    Stata's ``_rc`` after ``capture``.
    """

    def __init__(self, data: pd.DataFrame | None = None, echo: bool = True):
        if data is not None and not isinstance(data, pd.DataFrame):
            raise SessionError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        self.data = pd.DataFrame() if data is None else data.copy()
        if not self.data.index.is_unique:  # Stata's rows have no labels; predict maps by them
            self.data = self.data.reset_index(drop=True)
        self.echo = echo
        self.results = None  # the last estimates (Stata's e())
        self.stored: dict = {}
        self.figures: list = []
        self.last_margins = None
        self.rc = 0
        self.r: dict = {}
        self.rng = np.random.default_rng()
        self.default_level: float | None = None
        self.base_levels: str | None = None
        self.survey: SurveyDesign | None = None  # what svyset declared
        self.st: StSettings | None = None  # what stset declared (mestreg reads it)

    # ---- running ------------------------------------------------------------------------
    def run(self, command: str) -> StataText:
        """Run one command line; returns (and with ``echo`` prints) its Stata-layout text.

        Prefixes: ``quietly``, ``noisily``, ``capture`` (runs the command, swallows
        its error and sets ``session.rc``, Stata's ``_rc``) and ``version #:``.
        """
        line = " ".join(str(command).split())
        quiet, capture = False, False
        while True:
            m = re.match(r"^(\w+)\s*(?::\s*|\s+|$)(.*)$", line)
            word = _prefix(m.group(1)) if m else None
            if word is None:
                version = re.match(r"^vers(?:i(?:on?)?)?\s+[\d.]+\s*:\s*(.*)$", line)
                if not version:
                    break
                line = version.group(1)
                continue
            line = m.group(2)
            if word == "capture":
                capture, quiet = True, True
            else:
                quiet = word == "quietly"
        if capture:
            try:
                out = self._run_one(line)
            except _ExitDo:
                raise
            except Exception as err:  # noqa: BLE001 - Stata's capture swallows any error
                self.rc = int(getattr(err, "rc", 198))
                if not quiet:
                    print(f"{err}\nr({self.rc});")
                return StataText("")
            self.rc = 0
        else:
            out = self._run_one(line)
        if self.echo and not quiet and out:
            print(out)
        return StataText("") if quiet else out

    def _run_one(self, line: str) -> StataText:
        if not line:
            return StataText("")
        word = re.match(r"[A-Za-z_]+", line)
        name = word.group(0) if word else line.split()[0]
        cmd = _command_name(name)
        if cmd is None:
            raise SessionError(f"unrecognized command: {name} (mejax runs: "
                               f"{', '.join(supported_commands())})", rc=199)
        rest = line[word.end():].strip() if word else ""
        if (cmd in _ESTIMATION or name.lower() in _ESTIMATION) and cmd != "menl":
            cmd = "mixed"
        text = getattr(self, f"_cmd_{cmd}")(rest, line)
        return StataText(str(text) if text is not None else "")

    def run_do(self, do: str | Path) -> StataText:
        """Run a do-file (a path or its text); returns the log of commands and output.

        Stops at the first failing command (as Stata does; ``capture`` swallows an
        error), raising its error with the line; ``exit`` ends the do-file early.
        """
        text = str(do)
        path = Path(text) if "\n" not in text and len(text) < 4096 else None
        if path is not None and path.suffix in (".do", ".txt") and path.exists():
            text = path.read_text()
        elif path is not None and path.suffix == ".do":
            raise SessionError(f"do-file {text!r} not found", rc=601)
        log = []
        echo, self.echo = self.echo, False
        try:
            for i, command in enumerate(parse_do(text), start=1):
                if echo:
                    print(f". {command}")
                try:
                    out = self.run(command)
                except _ExitDo:
                    log.append(f". {command}")
                    break
                except (SpecError, DataError) as err:
                    rc = getattr(err, "rc", 198)
                    raise _in_command(err, i, command, rc) from err
                if echo and out:
                    print(out)
                log.append(f". {command}\n{out}" if out else f". {command}")
        finally:
            self.echo = echo
        return StataText("\n\n".join(log))

    def context(self) -> ExprContext:
        """What expressions see: the data, ``_rc``, ``_b[]``, ``_se[]``, ``e()``, ``r()``."""
        res = self.results
        lookups = {"r": self._r_value}
        if res is not None:
            lookups.update({
                "_b": lambda name: float(res.fixef[_coef(res, name)]),
                "_se": lambda name: float(res.fixef_se[_coef(res, name)]),
                "e": self._e_value,
            })
        return ExprContext(self.data, {"_rc": float(self.rc)}, lookups, self.rng)

    def _e_value(self, key: str):
        res = self.results
        if key == "sample":
            return self.data.index.isin(_sample_index(res)).astype(float)
        values = {"ll": res.loglik, "N": res.nobs, "rank": len(res.fixef), "k": res.n_params,
                  "aic": res.aic, "bic": res.bic, "converged": float(res.converged)}
        if key not in values:
            raise SessionError(f"e({key}) not available (have: {', '.join(values)}, sample)")
        return float(values[key])

    def _r_value(self, key: str):
        if key not in self.r:
            raise SessionError(f"r({key}) not available"
                               + (f" (have: {', '.join(self.r)})" if self.r else
                                  " (run summarize, tabulate or count first)"))
        return self.r[key]

    # ---- helpers ----------------------------------------------------------------------------
    def _need_results(self, what: str):
        if self.results is None:
            raise SessionError(f"{what}: last estimates not found (run mixed or me* first)",
                               rc=301)
        return self.results

    @staticmethod
    def _split_options(rest: str) -> tuple[str, str]:
        return split_options(rest)

    # ---- commands -----------------------------------------------------------------------------
    def _cmd_mixed(self, rest: str, line: str):
        if self.default_level is not None and not re.search(r"\bl(e(v(el?)?)?)?\(", line):
            last = [p for _, p in split_top(line, ("||",))][-1]
            line += f" level({self.default_level:g})" if "," in last else \
                f", level({self.default_level:g})"
        if self.base_levels and not re.search(r",.*\b(all)?baselevels\b", line.split("||")[-1]):
            line += f" {self.base_levels}" if "," in line.split("||")[-1] else \
                f", {self.base_levels}"
        self.results = stata(line, self.data, st=self.st)
        return self.results.summary()

    def _cmd_menl(self, rest: str, line: str):
        level = {} if self.default_level is None else {"level": self.default_level}
        self.results = menl(line, self.data, **level)
        return self.results.summary()

    def _cmd_svyset(self, rest: str, line: str):
        """Declare (``svyset psu, ...``), show (``svyset``) or clear the survey design."""
        text = rest.strip()
        if text == "clear":
            self.survey = None
            return ""
        if text:
            survey = parse_svyset(text)
            missing = sorted(survey.columns() - set(map(str, self.data.columns)))
            if missing:
                raise SessionError(f"svyset: variable(s) {', '.join(missing)} not found",
                                   rc=111)
            self.survey = survey
        if self.survey is None:
            return "no survey characteristics are set"
        return self.survey.describe()

    def _cmd_svy(self, rest: str, line: str):
        """``svy[, subpop(var)]: command``: the fit with the svyset design."""
        if self.survey is None:
            raise SessionError("data not set up for svy, use svyset", rc=119)
        self.results = stata(line, self.data, survey=self.survey, st=self.st)
        return self.results.summary()
    def _cmd_stset(self, rest: str, line: str):
        settings = parse_stset(rest)
        missing = sorted(c for c in settings.columns() if c not in self.data.columns)
        if missing:
            raise SessionError(f"stset: variable {missing[0]} not found", rc=111)
        if settings.id is None:
            self.st = settings
            return settings.describe()
        records = counting_process(self.data, settings)  # refuses a missing id, as Stata
        self.st = settings
        return f"{settings.describe()}\n{records.summary(settings)}"

    def _cmd_exit(self, rest: str, line: str):
        raise _ExitDo()

    def _cmd_log(self, rest: str, line: str):
        return ("(log ignored: the log of a do-file is what run_do returns and "
                "mejax --do prints)")

    def _cmd_predict(self, rest: str, line: str):
        res = self._need_results("predict")
        if isinstance(res, MenlResult):
            return self._predict_menl(res, rest)
        body, opts = self._split_options(rest)
        names = body.split()
        if not names:
            raise SessionError("predict needs a new variable name: predict newvar [, xb ...]")
        options = _options(opts)
        if res.design.glm is not None:  # after me* commands
            return self._predict_glmm(res, names, options)
        kinds = [k for k in options if k in _PREDICT_KINDS]
        unknown = [k for k in options if k not in _PREDICT_KINDS and k != "reses"]
        if unknown:
            raise SessionError(f"predict: option {unknown[0]} not allowed; use one of "
                               f"{', '.join(_PREDICT_KINDS)}, reses()")
        if len(kinds) > 1:
            raise SessionError(f"predict: only one of {', '.join(kinds)} allowed")
        kind = kinds[0] if kinds else ("reffects" if "reses" in options else "xb")
        if "reses" in options and kind != "reffects":
            raise SessionError("predict: reses() goes with reffects")
        notes = []
        if kind == "reffects":
            frame = res.predict(kind="reffects")
            targets = _expand_names(names, list(frame.columns), "predict")
            for col, target in zip(frame.columns, targets):
                self._set(target, frame[col])
            notes.append(f"(calculating BLUPs for {len(targets)} random effect(s): "
                         f"{', '.join(targets)})")
            if "reses" in options:
                ses = res.predict("reses")
                se_names = _expand_names(options["reses"].split(), list(ses.columns),
                                         "reses()")
                for col, target in zip(ses.columns, se_names):
                    self._set(target, ses[col])
        else:
            if len(names) != 1:
                raise SessionError(f"predict, {kind}: give one new variable name")
            values = res.predict(kind=kind)
            self._set(names[0], values)
            if kind == "xb" and not kinds:
                notes.append("(option xb assumed; fitted values)")
        return "\n".join(notes)

    def _predict_menl(self, res: MenlResult, rest: str) -> str:
        """After menl: ``predict [double] newvar [, yhat|residuals|rstandard|reffects
        fixedonly relevel(level)]`` or ``predict (newvar = {name:}) ...``."""
        body, opts = self._split_options(rest)
        options = _options(opts)
        allowed = {"yhat", "residuals", "rstandard", "reffects", "fixedonly", "relevel"}
        unknown = [k for k in options if k not in allowed]
        if unknown:
            raise SessionError(f"predict: option {unknown[0]} not allowed after menl; use "
                               f"{', '.join(sorted(allowed))}")
        kinds = [k for k in ("yhat", "residuals", "rstandard", "reffects") if k in options]
        if len(kinds) > 1:
            raise SessionError(f"predict: only one of {', '.join(kinds)} allowed")
        body = re.sub(r"^(double|float)\s+", "", body.strip())
        relevel = options.get("relevel")
        try:
            pairs = re.findall(r"\(\s*([A-Za-z_]\w*)\s*=\s*\{\s*([A-Za-z_]\w*)\s*:\s*\}\s*\)",
                               body)
            if pairs:
                for target, name in pairs:
                    self._set(target, res.predict("expression", expression=name,
                                                  fixedonly="fixedonly" in options,
                                                  relevel=relevel))
                return ""
            names = body.split()
            if not names:
                raise SessionError("predict needs a new variable name: predict newvar [, yhat]")
            kind = kinds[0] if kinds else "yhat"
            if kind == "reffects":
                frame = res.predict("reffects", relevel=relevel)
                for col, target in zip(frame.columns,
                                       _expand_names(names, list(frame.columns), "predict")):
                    self._set(target, frame[col])
                return ""
            if len(names) != 1:
                raise SessionError(f"predict, {kind}: give one new variable name")
            values = res.predict(kind, fixedonly="fixedonly" in options, relevel=relevel)
        except ValueError as err:
            raise SessionError(f"predict: {err}") from None
        self._set(names[0], pd.Series(values, index=res.design.frame.index))
        return "" if kinds else "(option yhat assumed; fitted values)"

    def _predict_glmm(self, res, names: list[str], options: dict) -> str:
        values, ses, notes = predict_command(res, options)
        if isinstance(values, pd.DataFrame):
            targets = _expand_names(names, list(values.columns), "predict")
            for col, target in zip(values.columns, targets):
                self._set(target, values[col])
        elif len(names) != 1:
            raise SessionError("predict: give one new variable name")
        else:
            self._set(names[0], values)
        if ses is not None:
            if options["reses"] is True:
                raise SessionError("predict: reses() needs new variable names (or stub*)")
            se_names = _expand_names(options["reses"].split(), list(ses.columns), "reses()")
            for col, target in zip(ses.columns, se_names):
                self._set(target, ses[col])
        return "\n".join(notes)

    def _set(self, name: str, values) -> None:
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise SessionError(f"{name!r} is not a valid variable name")
        if name in self.data.columns:
            raise SessionError(f"variable {name} already defined")
        if isinstance(values, pd.Series) and values.index.isin(self.data.index).all():
            self.data[name] = values.reindex(self.data.index).to_numpy()
        else:
            values = np.asarray(values)
            if len(values) != len(self.data):
                raise SessionError(f"predict: {len(values)} values for {len(self.data)} rows")
            self.data[name] = values

    def _cmd_estat(self, rest: str, line: str):
        res = self._need_results("estat")
        body, opts = split_options(rest)
        sub = body.split()[0].lower() if body.split() else ""
        if sub == "ic":
            return estat_ic(res)
        if sub == "icc":
            return icc_mod.render_icc(res.icc(), res.level, title=icc_mod.icc_title(res))
        if len(sub) >= 5 and "recovariance".startswith(sub):
            options = _options(opts)
            bad = [k for k in options if k not in ("level", "correlation", "corr")]
            if bad:
                raise SessionError(f"estat recovariance: option {bad[0]} not supported "
                                   "(level(), correlation)")
            return recovariance(res, options.get("level"),
                                bool(options.get("correlation") or options.get("corr")))
        raise SessionError(f"estat {sub or '(nothing)'}: subcommand not supported; use estat "
                           "ic, estat icc or estat recovariance")

    def _cmd_test(self, rest: str, line: str):
        return self._need_results("test").test(rest)

    def _cmd_testparm(self, rest: str, line: str):
        """testparm varlist: joint test that all coefficients of the listed terms are zero."""
        res = self._need_results("testparm")
        wanted = {re.sub(r"^(i|c)\.", "", t) for t in rest.split()}
        names = [c.name for c in res.design.columns
                 if c.name in res.fixef.index and (
                     (c.term is not None and c.term in wanted) or c.name in wanted)]
        if not names:
            raise SessionError(f"testparm: no coefficients found for {rest!r}")
        return res.test(" ".join(names))

    def _cmd_lincom(self, rest: str, line: str):
        res = self._need_results("lincom")
        body, opts = self._split_options(rest)
        level = _options(opts).get("level")
        return res.lincom(body, None if level is None else float(level))

    def _cmd_contrast(self, rest: str, line: str):
        body, opts = self._split_options(rest)
        if opts:
            raise SessionError(f"contrast: options not supported ({opts})")
        return self._need_results("contrast").contrast(body)

    def _cmd_pwcompare(self, rest: str, line: str):
        res = self._need_results("pwcompare")
        body, opts = self._split_options(rest)
        options = _options(opts)
        bad = [k for k in options if k not in ("level", "effects", "mcompare")]
        if bad:
            raise SessionError(f"pwcompare: option {bad[0]} not supported")
        if options.get("mcompare", "noadjust") not in ("noadjust", True):
            raise SessionError("pwcompare: only mcompare(noadjust) is supported")
        level = options.get("level")
        return res.pwcompare(body, None if level is None else float(level))

    def _cmd_margins(self, rest: str, line: str):
        res = self._need_results("margins")
        self.last_margins = res.margins(rest)
        return self.last_margins

    def _cmd_estimates(self, rest: str, line: str):
        body, opts = split_options(rest)
        words = body.split()
        sub = words[0].lower() if words else ""
        if sub in ("store", "sto"):
            if len(words) != 2:
                raise SessionError("estimates store needs one name")
            self.stored[words[1]] = self._need_results("estimates store")
            return ""
        if sub in ("restore", "res"):
            if len(words) != 2 or words[1] not in self.stored:
                raise SessionError(f"estimation result {' '.join(words[1:])} not found", rc=111)
            self.results = self.stored[words[1]]
            return f"(results {words[1]} are active now)"
        if sub == "dir":
            return "\n".join(f"{k}: {v!r}" for k, v in self.stored.items())
        if sub in ("replay", "rep"):
            res = self._need_results("estimates replay")  # Stata replays without the log
            return res.summary(log=False) if isinstance(res, MixedResult) else res.summary()
        if sub in ("table", "tab"):
            return self._estimates_table(words[1:], opts)
        if sub in ("clear", "drop"):
            names = words[1:] if sub == "drop" else list(self.stored)
            for name in names:
                if self.stored.pop(name, None) is None:
                    raise SessionError(f"estimation result {name} not found", rc=111)
            return ""
        raise SessionError(f"estimates {sub}: subcommand not supported (store, restore, dir, "
                           "replay, table, drop, clear)")

    def _estimates_table(self, names: list[str], opts: str) -> str:
        models = []
        for name in names or ["."]:
            if name in (".", "active"):
                models.append(("active", self._need_results("estimates table")))
            elif name in self.stored:
                models.append((name, self.stored[name]))
            else:
                raise SessionError(f"estimation result {name} not found", rc=111)
        options = _options(opts)
        allowed = ("b", "se", "t", "p", "stats", "star", "keep", "drop")
        bad = [k for k in options if k not in allowed]
        if bad:
            raise SessionError(f"estimates table: option {bad[0]} not supported "
                               "(b, se, t, p, stats(), star, keep(), drop())")
        show = {k for k in ("se", "t", "p") if k in options}
        star = None
        if "star" in options:
            if show:
                raise SessionError("estimates table: option star not allowed with se, t or p")
            levels = options["star"]
            star = (0.05, 0.01, 0.001) if levels is True else tuple(
                float(v) for v in str(levels).split())
        formats = {k: options[k] for k in ("b", "se") if isinstance(options.get(k), str)}
        stats = options["stats"].split() if isinstance(options.get("stats"), str) else None
        keep, drop = (str(options[k]).split() if isinstance(options.get(k), str) else None
                      for k in ("keep", "drop"))
        return estimates_table(models, show, formats, stats, star, keep, drop)

    def _cmd_lrtest(self, rest: str, line: str):
        names = self._split_options(rest)[0].split()
        if len(names) == 1:
            names.append(".")
        if len(names) != 2:
            raise SessionError("lrtest needs two models: lrtest name1 name2 (or name1 .)")
        models = []
        for n in names:
            if n == ".":
                models.append(self._need_results("lrtest"))
            elif n in self.stored:
                models.append(self.stored[n])
            else:
                raise SessionError(f"estimation result {n} not found")
        return lrtest(models[0], models[1], names=tuple(names))

    def _cmd_display(self, rest: str, line: str):
        return _display(rest, self.context())

    # ---- Bayesian estimation (mejax/stata_bayes.py) ---------------------------------------
    def _cmd_bayes(self, rest: str, line: str):
        self.results = stata(line, self.data, st=self.st)
        return self.results.summary()

    # imported when first used: the sampler stack (blackjax, ArviZ) costs seconds at start-up
    def _cmd_bayesstats(self, rest: str, line: str):
        from .stata_bayes import bayesstats
        return bayesstats(self._need_results("bayesstats"), rest)

    def _cmd_bayestest(self, rest: str, line: str):
        from .stata_bayes import bayestest
        return bayestest(self.results, rest, self.stored)


# ---- small parsing helpers -------------------------------------------------------------------
def _options(text: str) -> dict:
    """``a b(c d) e`` -> {'a': True, 'b': 'c d', 'e': True} (Stata option list)."""
    return {name.lower(): True if arg is None else arg for name, arg in option_items(text)}


def _expand_names(names: list[str], columns: list[str], what: str) -> list[str]:
    """Stata's ``stub*`` or a list of names, one per column."""
    if len(names) == 1 and names[0].endswith("*"):
        stub = names[0][:-1]
        return [f"{stub}{i + 1}" for i in range(len(columns))]
    if len(names) != len(columns):
        raise SessionError(f"{what}: {len(columns)} random effect(s) need {len(columns)} new "
                           f"variable name(s) (or stub*), got {len(names)}")
    return names


def _sample_index(res) -> pd.Index:
    frame = getattr(res.design, "frame", None)
    if frame is None:
        return pd.RangeIndex(res.nobs)
    return frame[res.design.response].index


def _display(text: str, ctx: ExprContext) -> str:
    """Stata's ``display``: quoted strings, expressions and ``%fmt`` directives in turn
    (an expression without one shows as Stata's %10.0g: ``.5``, ``.33333333``)."""
    pieces, fmt = [], None
    for m in re.finditer(r'"([^"]*)"|(%-?0?\d+\.\d+[fge]c?)|([^"%]+)', text.strip()):
        literal, directive, expr = m.groups()
        if literal is not None:
            pieces.append(literal)
        elif directive is not None:
            fmt = directive
        elif expr.strip():
            value = evaluate(expr.strip(), ExprContext(None, ctx.scalars, ctx.lookups, ctx.rng))
            if isinstance(value, str):
                pieces.append(value)
            else:
                value = float(np.asarray(value))
                pieces.append(stata_format(value, fmt) if fmt else general(value, 10))
            fmt = None
    return "".join(pieces)


def _coef(res, name: str) -> str:
    found = resolve_name(res, name)
    if found is None:
        raise SessionError(f"{name} is a base level (coefficient 0)")
    return found
