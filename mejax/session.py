"""A small Stata session: run ``mixed`` or ``melogit``, ``mepoisson``, ... and their
post-estimation commands in order.

``StataSession(data).run("mixed y x || id:")`` keeps the last estimates (as
Stata's ``e()``), stored estimates, new variables from ``predict`` and the
figures of ``marginsplot``; ``run_do`` runs a do-file.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from .results.stata_table import StataText
from .spec.family import COMMANDS as GLMM_COMMANDS
from .spec.model import SpecError

__all__ = ["StataSession", "SessionError", "parse_do"]


class SessionError(SpecError):
    """A command the session cannot run (unknown, misspelled, or missing estimates)."""


# command word -> canonical command (Stata's abbreviations that people use)
_COMMANDS = {
    "mixed": "mixed", "xtmixed": "mixed", "predict": "predict", "pred": "predict",
    "estat": "estat", "test": "test", "lincom": "lincom", "contrast": "contrast",
    "pwcompare": "pwcompare", "margins": "margins", "marginsplot": "marginsplot",
    "estimates": "estimates", "estimate": "estimates", "est": "estimates",
    "lrtest": "lrtest", "display": "display", "di": "display", "dis": "display",
    "testparm": "testparm",
}
_COMMANDS.update({cmd: "mixed" for cmd in GLMM_COMMANDS})  # melogit, mepoisson, ... fit too
_PREDICT_KINDS = ("xb", "fitted", "residuals", "rstandard", "reffects", "stdp")


def parse_do(text: str) -> list[str]:
    """Commands of a do-file: ``/* */``, ``//`` and ``*`` comments, ``///`` continuations."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    commands, pending = [], ""
    for raw in text.splitlines():
        line = raw
        cont = re.search(r"\s*///.*$", line)
        if cont:
            pending += line[: cont.start()] + " "
            continue
        line = re.sub(r"(^|\s)//.*$", "", line)
        line = pending + line
        pending = ""
        stripped = line.strip()
        if not stripped or stripped.startswith("*"):
            continue
        commands.append(" ".join(stripped.split()))
    if pending.strip():
        commands.append(" ".join(pending.split()))
    return commands


class StataSession:
    """Run Stata command lines on one DataFrame, keeping estimates between commands.

    ``data`` is copied; ``predict`` adds columns to ``session.data``.
    ``echo`` prints each command's output as well as returning it.
    """

    def __init__(self, data: pd.DataFrame, echo: bool = True):
        if not isinstance(data, pd.DataFrame):
            raise SessionError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        self.data = data.copy()
        self.echo = echo
        self.results = None  # the last estimates (Stata's e())
        self.stored: dict = {}
        self.figures: list = []
        self.last_margins = None

    # ---- running ------------------------------------------------------------------------
    def run(self, command: str) -> StataText:
        """Run one command line; returns (and with ``echo`` prints) its Stata-layout text."""
        line = " ".join(str(command).split())
        quiet = False
        m = re.match(r"^(qui|quietly)\s*:?\s+(.*)$", line)
        if m:
            quiet, line = True, m.group(2)
        if not line:
            return StataText("")
        word = re.match(r"[A-Za-z_]+", line)
        name = word.group(0).lower() if word else line.split()[0]
        cmd = _COMMANDS.get(name)
        if cmd is None:
            raise SessionError(f"unrecognized command: {name} (supported: "
                               f"{', '.join(sorted(set(_COMMANDS.values())))})")
        rest = line[word.end():].strip() if word else ""
        text = getattr(self, f"_cmd_{cmd}")(rest, line)
        out = StataText(str(text) if text is not None else "")
        if self.echo and not quiet and out:
            print(out)
        return StataText("") if quiet else out

    def run_do(self, do: str | Path) -> StataText:
        """Run a do-file (a path or its text); returns the log of commands and output.

        Stops at the first failing command, raising its error with the line.
        """
        text = str(do)
        path = Path(text) if "\n" not in text and len(text) < 4096 else None
        if path is not None and path.suffix in (".do", ".txt") and path.exists():
            text = path.read_text()
        elif path is not None and path.suffix == ".do":
            raise SessionError(f"do-file {text!r} not found")
        log = []
        echo, self.echo = self.echo, False
        try:
            for i, command in enumerate(parse_do(text), start=1):
                if echo:
                    print(f". {command}")
                try:
                    out = self.run(command)
                except Exception as err:
                    raise type(err)(f"command {i} ({command!r}): {err}") from err
                if echo and out:
                    print(out)
                log.append(f". {command}\n{out}" if out else f". {command}")
        finally:
            self.echo = echo
        return StataText("\n\n".join(log))

    # ---- helpers ----------------------------------------------------------------------------
    def _need_results(self, what: str):
        if self.results is None:
            raise SessionError(f"{what}: last estimates not found (run mixed or me* first)")
        return self.results

    @staticmethod
    def _split_options(rest: str) -> tuple[str, str]:
        body, _, opts = rest.partition(",")
        return body.strip(), opts.strip()

    # ---- commands -----------------------------------------------------------------------------
    def _cmd_mixed(self, rest: str, line: str):
        from .api import stata

        self.results = stata(line, self.data)
        return self.results.summary()

    def _cmd_predict(self, rest: str, line: str):
        res = self._need_results("predict")
        body, opts = self._split_options(rest)
        names = body.split()
        if not names:
            raise SessionError("predict needs a new variable name: predict newvar [, xb ...]")
        options = _options(opts)
        if hasattr(res, "family"):  # after me* commands
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
        if not hasattr(res, "predict"):
            raise SessionError("predict is not available in this version of mejax")
        notes = []
        if kind == "reffects":
            frame = res.predict(kind="reffects")
            targets = _expand_names(names, list(frame.columns), "predict")
            for col, target in zip(frame.columns, targets):
                self._set(target, frame[col])
            notes.append(f"(calculating BLUPs for {len(targets)} random effect(s): "
                         f"{', '.join(targets)})")
            if "reses" in options:
                ses = self._random_effect_ses(res)
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

    def _predict_glmm(self, res, names: list[str], options: dict) -> str:
        from .inference.glmm_predict import predict_command

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

    def _random_effect_ses(self, res) -> pd.DataFrame:
        """Per-observation standard errors of the BLUPs, columns as predict's reffects."""
        tables = res.ranef(se=True)
        design = res.design
        index = _sample_index(res)
        out = {}
        for term in design.re_terms:
            table = tables[term.label]
            for name in term.effect_names:
                out[f"{term.label}: {name}"] = table[f"se_{name}"].to_numpy()[term.codes]
        return pd.DataFrame(out, index=index)

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
        sub = rest.split()[0].lower() if rest.split() else ""
        if sub == "ic":
            from .inference.hypothesis import estat_ic

            return estat_ic(res)
        if sub == "icc":
            if not hasattr(res, "icc"):
                raise SessionError("estat icc is not available in this version of mejax")
            from .inference import icc as icc_mod

            table = res.icc()
            kwargs = {}
            if hasattr(icc_mod, "icc_title"):
                kwargs["title"] = icc_mod.icc_title(res)
            return icc_mod.render_icc(table, res.level, **kwargs)
        raise SessionError(f"estat {sub or '(nothing)'}: subcommand not supported; use estat ic "
                           "or estat icc")

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

    def _cmd_marginsplot(self, rest: str, line: str):
        from .inference.margins import marginsplot

        if self.last_margins is None:
            raise SessionError("marginsplot: previous command was not margins")
        fig = marginsplot(self.last_margins)
        self.figures.append(fig)
        options = _options(self._split_options(rest)[1])
        if "saving" in options:
            path = options["saving"].split(",")[0].strip().strip('"')
            fig.savefig(path)
            return f"(file {path} saved)"
        return f"(figure {len(self.figures)} created; see session.figures)"

    def _cmd_estimates(self, rest: str, line: str):
        words = rest.split()
        sub = words[0].lower() if words else ""
        if sub in ("store", "sto"):
            if len(words) != 2:
                raise SessionError("estimates store needs one name")
            self.stored[words[1]] = self._need_results("estimates store")
            return ""
        if sub in ("restore", "res"):
            if len(words) != 2 or words[1] not in self.stored:
                raise SessionError(f"estimation result {' '.join(words[1:])} not found")
            self.results = self.stored[words[1]]
            return f"(results {words[1]} are active now)"
        if sub == "dir":
            return "\n".join(f"{k}: {v!r}" for k, v in self.stored.items())
        if sub in ("replay", "rep"):
            return self._need_results("estimates replay").summary()
        raise SessionError(f"estimates {sub}: subcommand not supported (store, restore, dir)")

    def _cmd_lrtest(self, rest: str, line: str):
        from .inference.hypothesis import lrtest

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
        return _display(rest, self.results)


# ---- small parsing helpers -------------------------------------------------------------------
def _options(text: str) -> dict:
    """``a b(c d) e`` -> {'a': True, 'b': 'c d', 'e': True} (Stata option list)."""
    from .inference._common import option_items

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


_FUNCS = {
    "sqrt": math.sqrt, "exp": math.exp, "ln": math.log, "log": math.log, "log10": math.log10,
    "abs": abs, "normal": special.ndtr, "invnormal": special.ndtri,
    "chi2tail": lambda df, x: special.chdtrc(df, x),
    "ttail": lambda df, t: special.stdtr(df, -t), "round": round,
}


def _display(text: str, res) -> str:
    """Stata's ``display`` for quoted strings and arithmetic with _b[], _se[], e()."""
    text = text.strip()
    if re.fullmatch(r'"[^"]*"', text):
        return text[1:-1]
    if res is not None:
        text = re.sub(r"_b\[([^\]]+)\]",
                      lambda m: repr(float(res.fixef[_coef(res, m.group(1))])), text)
        text = re.sub(r"_se\[([^\]]+)\]",
                      lambda m: repr(float(res.fixef_se[_coef(res, m.group(1))])), text)
        e = {"ll": res.loglik, "N": res.nobs, "rank": len(res.fixef), "k": res.n_params,
             "aic": res.aic, "bic": res.bic}
        text = re.sub(r"e\((\w+)\)", lambda m: repr(float(e[m.group(1)])) if m.group(1) in e
                      else _bad(f"e({m.group(1)}) not available"), text)
    value = _eval(text.replace("^", "**"))
    return f"{value:.8g}" if isinstance(value, float) else str(value)


def _coef(res, name: str) -> str:
    from .inference._common import resolve_name

    found = resolve_name(res, name)
    if found is None:
        raise SessionError(f"{name} is a base level (coefficient 0)")
    return found


def _bad(message: str):
    raise SessionError(message)


def _eval(expr: str):
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise SessionError(f"display: cannot parse {expr!r}") from None

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            v = ev(node.operand)
            return v if isinstance(node.op, ast.UAdd) else -v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.Div: lambda: a / b, ast.Pow: lambda: a**b}
            if type(node.op) in ops:
                return ops[type(node.op)]()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _FUNCS and not node.keywords:
            return float(_FUNCS[node.func.id](*[ev(a) for a in node.args]))
        raise SessionError(f"display: unsupported expression {ast.unparse(node)!r}")

    return ev(tree)
