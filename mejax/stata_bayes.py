"""Stata's Bayesian commands for a session: ``bayes:``, ``bayesstats``, ``bayestest``,
``bayesgraph`` (host side; the numbers come from :class:`mejax.bayes.BayesResult`).
"""

from __future__ import annotations

import re

import numpy as np

from .bayes import BayesResult
from .bayes.graphs import KINDS, bayesgraph
from .bayes.table import render_columns
from .errors import SpecError
from .graph import GraphOptions
from .stata_syntax import split_options
from .text import fmt


def _need_bayes(res, what: str) -> BayesResult:
    if not isinstance(res, BayesResult):
        raise SpecError(f"{what}: the last estimates are not Bayesian; run bayes: mixed ... "
                        "or bayes: melogit ... first")
    return res


def _references(res: BayesResult, text: str) -> list[str] | None:
    """Parameter names in ``{...}`` references (``{y:}`` expands), None for all / ``_all``."""
    text = text.strip()
    if not text or text == "_all":
        return None
    refs = re.findall(r"\{[^{}]*\}", text)
    if not refs or re.sub(r"\{[^{}]*\}", "", text).strip():
        raise SpecError(f"cannot read the parameters {text!r}; write them in braces, e.g. "
                        "{y:x1} {var_U0}")
    names: list[str] = []
    for ref in refs:
        inner = ref[1:-1].strip()
        if inner.endswith(":"):
            found = [n for n in res.names if n.startswith(inner)]
        elif ":" in inner and " " in inner:
            eq, _, rest = inner.partition(":")
            found = [f"{eq}:{r}" for r in rest.split()]
        else:
            found = [inner]
        for name in found:
            res.parameter(name)  # KeyError listing the parameters if unknown
        names += found
    return names


def bayesstats(res, rest: str) -> str:
    """``bayesstats summary|ess|grubin|ic [params]``."""
    res = _need_bayes(res, "bayesstats")
    body, _ = split_options(rest)
    words = body.split(maxsplit=1)
    sub = words[0].lower() if words else ""
    params = words[1] if len(words) > 1 else ""
    try:
        names = _references(res, params)
    except KeyError as err:
        raise SpecError(str(err.args[0])) from None
    size = f"MCMC sample size = {res.n_draws_total:,}"
    if "summary".startswith(sub) and len(sub) >= 4:
        frame = res.table[["mean", "sd", "mcse", "median", "lower", "upper"]]
        frame.columns = ["Mean", "Std. dev.", "MCSE", "Median", "[95% cred.", "interval]"]
        return render_columns(res, frame, f"Posterior summary statistics{size:>50}", names)
    if sub == "ess":
        return render_columns(res, res.ess(), f"Efficiency summaries{size:>58}", names)
    if sub in ("grubin", "grub"):
        return render_columns(res, res.grubin(), "Gelman-Rubin convergence diagnostic\n"
                              f"Number of chains = {res.settings.chains}", names)
    if sub == "ic":
        return _ic_table([("active", res)])
    raise SpecError(f"bayesstats {sub}: use summary, ess, grubin or ic")


def _ic_table(models: list[tuple[str, BayesResult]]) -> str:
    ics = [(name, res.ic()) for name, res in models]
    first = ics[0][1]["log(ML)"].iloc[0]
    lines = ["Bayesian information criteria", "", "-" * 46,
             f"{'':<13}|{'DIC':>11}{'log(ML)':>11}{'log(BF)':>11}", "-" * 13 + "+" + "-" * 32]
    for name, ic in ics:
        log_ml = ic["log(ML)"].iloc[0]
        bf = "" if len(ics) == 1 else fmt(log_ml - first, 11)
        lines.append(f"{name[:12]:>12} |{fmt(ic['DIC'].iloc[0], 11)}{fmt(log_ml, 11)}{bf}")
    lines.append("-" * 46)
    return "\n".join(lines)


def bayestest(res, rest: str, stored: dict) -> str:
    """``bayestest interval (cond)``, ``bayestest interval {p}, lower(#) upper(#)``,
    ``bayestest model name1 name2 ...``."""
    body, opts = split_options(rest)
    sub, _, args = body.strip().partition(" ")
    if "interval".startswith(sub.lower()) and len(sub) >= 3:
        res = _need_bayes(res, "bayestest interval")
        conditions = _interval_conditions(args.strip(), opts)
        frames = [res.test_interval(cond) for _, cond in conditions]
        size = f"MCMC sample size = {res.n_draws_total:,}"
        lines = [f"Interval tests{size:>64}", ""]
        lines += [f"{label:>12} : {cond}" for label, cond in conditions]
        lines += ["", "-" * 48, f"{'':<13}|{'Mean':>10}{'Std. dev.':>12}{'MCSE':>12}",
                  "-" * 13 + "+" + "-" * 34]
        for (label, _), frame in zip(conditions, frames):
            r = frame.iloc[0]
            lines.append(f"{label:>12} |{fmt(r['Mean'])}{fmt(r['Std. dev.'], 12)}"
                         f"{fmt(r['MCSE'], 12)}")
        return "\n".join(lines + ["-" * 48])
    if sub.lower() == "model":
        names = args.split()
        if len(names) < 2:
            raise SpecError("bayestest model needs two or more stored estimates: "
                            "bayestest model m1 m2")
        models = []
        for name in names:
            if name not in stored and name != ".":
                raise SpecError(f"estimation result {name} not found")
            models.append((name, _need_bayes(res if name == "." else stored[name],
                                             "bayestest model")))
        return model_test(models)
    raise SpecError(f"bayestest {sub}: use interval or model")


def _interval_conditions(args: str, opts: str) -> list[tuple[str, str]]:
    if args.startswith("("):
        out = []
        for i, group in enumerate(re.findall(r"\(((?:[^()]|\([^()]*\))*)\)", args), start=1):
            label, sep, cond = group.partition(":")
            if sep and "{" in label:  # the colon was a parameter's
                label, cond = "", group
            out.append((label.strip() or f"prob{i}", cond.strip() if sep and label else group))
        return out
    lower = re.search(r"\blower\(([^)]*)\)", opts)
    upper = re.search(r"\bupper\(([^)]*)\)", opts)
    if not args or not (lower or upper):
        raise SpecError("bayestest interval needs a condition in parentheses, "
                        "({y:x1} > 0), or a parameter with lower() and/or upper()")
    parts = ([f"{args} > {lower.group(1).strip()}"] if lower else []) + (
        [f"{args} < {upper.group(1).strip()}"] if upper else [])
    return [("prob1", " & ".join(parts))]


def model_test(models: list[tuple[str, BayesResult]]) -> str:
    """Posterior model probabilities from the log marginal likelihoods (equal prior odds)."""
    log_ml = np.array([res.ic()["log(ML)"].iloc[0] for _, res in models])
    post = np.exp(log_ml - log_ml.max())
    post /= post.sum()
    prior = 1 / len(models)
    lines = ["Bayesian model tests", "", "-" * 48,
             f"{'':<13}|{'log(ML)':>11}{'P(M)':>11}{'P(M|y)':>11}", "-" * 13 + "+" + "-" * 34]
    for (name, _), lm, p in zip(models, log_ml, post):
        lines.append(f"{name[:12]:>12} |{fmt(lm, 11)}{fmt(prior, 11)}{fmt(p, 11)}")
    return "\n".join(lines + ["-" * 48, "Note: Marginal likelihood (ML) is computed using "
                              "Laplace-Metropolis approximation."])


def graph(res, rest: str, options: GraphOptions | None = None):
    """``bayesgraph kind [params]``: a pyplot figure (or a list for diagnostics).

    ``options`` are the command's graph options (``title()``, ``saving()``), parsed
    by the session.
    """
    res = _need_bayes(res, "bayesgraph")
    body, _ = split_options(rest)
    kind, _, params = body.strip().partition(" ")
    kind = {"hist": "histogram", "kdens": "kdensity", "diag": "diagnostics"}.get(kind, kind)
    if kind not in KINDS:
        raise SpecError(f"bayesgraph {kind}: use one of {', '.join(KINDS)}")
    try:
        names = _references(res, params)
    except KeyError as err:
        raise SpecError(str(err.args[0])) from None
    return bayesgraph(res, kind, names, options=options)


__all__ = ["bayesstats", "bayestest", "graph", "model_test"]
