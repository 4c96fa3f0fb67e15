"""The ``predict()`` option of ``margins``: which statistic is averaged, and its labels.

Margins average statistics that are functions of the estimates alone: the
linear prediction ``xb`` (``eta``), and after ``me*`` the mean ``mu`` and
probabilities ``pr`` — marginal with respect to the random effects by default,
as Stata (since version 15), or ``fixedonly`` — and the family's own
statistics (``pr(a,b)``, ``e(a,b)``, ``ystar(a,b)`` after metobit and
meintreg; mestreg's ``median time``, ``mean time``, ``hazard``, ``surv``,
``cumhaz`` and ``density``). Which of them a model offers its result says
(``prediction_kinds``; after ``mixed`` only ``xb``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import HypothesisError, option_items
from .predict import outcome_code

NOT_ALLOWED = ("stdp", "reffects", "reses", "density", "distribution", "residuals",
               "pearson", "deviance", "anscombe", "ebmeans", "ebmodes", "scores")


@dataclass(frozen=True)
class Statistic:
    """What margins averages: kind, marginal or fixed-only, and the outcomes reported."""

    kind: str  # "mu", "pr", "xb"
    marginal: bool
    outcomes: tuple[int, ...] | None = None  # ordinal categories (codes)
    count: float | None = None  # pr(y = count) after count models
    text: str = ""
    bounds: tuple[float, float] | None = None  # (a, b) of pr(a,b), e(a,b), ystar(a,b)
    own: bool = False  # one of the family's own statistics (family.statistic)


def parse_statistic(result, text: str | None) -> Statistic:
    """The ``predict()`` option of margins, among the statistics the result offers."""
    family = result.predictive.family
    default = result.predictive.default_kind
    items = option_items(text or "")
    own = own_statistic(family, items, default)
    if own is not None:
        return own
    kinds = [n.lower() for n, a in items if n.lower() in ("mu", "pr", "eta", "xb", "n")]
    opts = {n.lower(): a for n, a in items if n.lower() not in ("mu", "pr", "eta", "xb", "n")}
    for name, arg in opts.items():
        if name in NOT_ALLOWED or (name == "conditional" and arg in ("ebmeans", "ebmodes")):
            raise HypothesisError(f"margins: predict({text}) is not allowed; empirical Bayes "
                                  "predictions and statistics other than mu, pr, eta and xb "
                                  "are not functions of the estimates alone")
        if name not in ("marginal", "fixedonly", "conditional", "outcome", "nooffset"):
            raise HypothesisError(f"margins: predict option {name!r} not recognised")
    if len(kinds) > 1:
        raise HypothesisError(f"margins: predict({text}) names more than one statistic")
    kind = {"n": "mu", "eta": "xb"}.get(kinds[0] if kinds else default,
                                         kinds[0] if kinds else default)
    if kind not in result.predictive.kinds:
        offered = [k for k in ("mu", "pr", "xb") if k in result.predictive.kinds]
        raise HypothesisError(f"margins: predict({text}) is not supported after this model; "
                              f"only {', '.join(offered)}")
    fixedonly = "fixedonly" in opts or opts.get("conditional") == "fixedonly"
    if fixedonly and "marginal" in opts:
        raise HypothesisError("margins: fixedonly and marginal cannot be combined")
    outcome = opts.get("outcome")
    if kind == "mu" and not family.has_mean:
        raise HypothesisError(f"margins: mu is not available after {family.name} models; "
                              "use pr")
    outcomes, count = None, None
    if kind == "pr" and family.pr_outcome == "category":
        outcomes = ((outcome_code(result, outcome),) if outcome is not None
                    else tuple(range(len(result.design.glm.categories))))
    elif kind == "pr" and family.pr_outcome == "count":
        if outcome is None:
            raise HypothesisError("margins: predict(pr) after a count model needs outcome(#): "
                                  "Pr(y = #)")
        count = float(outcome)
    elif outcome is not None:
        raise HypothesisError("margins: outcome() goes with predict(pr) after ordinal or "
                              "count models")
    return Statistic(kind, kind != "xb" and not fixedonly, outcomes, count, text or "")


def own_statistic(family, items, default: str) -> Statistic | None:
    """The family's own statistic named in ``predict()`` (None if it names none).

    Stata spells mestreg's as ``median time`` and ``mean time``; the censored
    normal's ``pr``, ``e`` and ``ystar`` take their interval as ``(a,b)``.
    """
    names = [n.lower() for n, _ in items]
    words = {"median": "median", "mean": "mean_time"}
    kinds = [words.get(n, n) for n in names if words.get(n, n) in family.statistics]
    text = " ".join(n if a is None else f"{n}({a})" for n, a in items)
    if not kinds:
        if names or default not in family.statistics:
            return None
        kinds = [default]
    if len(kinds) > 1:
        raise HypothesisError(f"margins: predict({text}) names more than one statistic")
    kind = kinds[0]
    bounds, opts = None, {}
    for name, arg in zip(names, (a for _, a in items)):
        if words.get(name, name) == kind:
            if kind in INTERVAL_STATISTICS:
                if arg is None:
                    raise HypothesisError(f"margins: predict({name}(a,b)) needs its interval, "
                                          f"for example predict({name}(0,.))")
                bounds = interval_bounds(arg)
            continue
        if name == "time" and kind in ("median", "mean_time"):
            continue
        if name not in ("marginal", "fixedonly", "conditional"):
            raise HypothesisError(f"margins: predict option {name!r} not recognised with "
                                  f"{kind}; add marginal (the default) or fixedonly")
        opts[name] = arg
    if opts.get("conditional") not in (None, "fixedonly"):
        raise HypothesisError(f"margins: predict({text}) is not allowed; empirical Bayes "
                              "predictions are not functions of the estimates alone")
    fixedonly = "fixedonly" in opts or opts.get("conditional") == "fixedonly"
    if fixedonly and "marginal" in opts:
        raise HypothesisError("margins: fixedonly and marginal cannot be combined")
    return Statistic(kind, not fixedonly, text=text, bounds=bounds, own=True)


INTERVAL_STATISTICS = ("pr", "e", "ystar")
OWN_LABELS = {"median": "median time", "mean_time": "mean time", "hazard": "hazard",
              "surv": "survivor function", "cumhaz": "cumulative hazard",
              "density": "density"}


def interval_bounds(text: str) -> tuple[float, float]:
    """``a,b`` of pr(a,b) with ``.`` (or nothing) for an open end."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise HypothesisError(f"margins: ({text}) must be two bounds a,b; use . for an "
                              "open end")
    ends = []
    for part, open_end in zip(parts, (-np.inf, np.inf)):
        try:
            ends.append(open_end if part in (".", "") else float(part))
        except ValueError:
            raise HypothesisError(f"margins: bound {part!r} must be a number or .") from None
    if not ends[0] < ends[1]:
        raise HypothesisError(f"margins: ({text}): the lower bound must be below the upper")
    return tuple(ends)


def _own_label(result, stat: Statistic) -> str:
    if stat.bounds is None:
        return OWN_LABELS[stat.kind]
    y = result.design.response
    a, b = ("." if not np.isfinite(v) else f"{v:g}" for v in stat.bounds)
    return {"pr": f"Pr({a}<{y}<{b})", "e": f"E({y}|{a}<{y}<{b})",
            "ystar": f"E({y}*), {y}*=max({a},min({y},{b}))"}[stat.kind]


def expression(result, stat: Statistic) -> tuple[str, str]:
    """Stata's ``Expression:`` line and the marginsplot axis label."""
    pred = f"predict({stat.text})"
    if stat.own:
        what = _own_label(result, stat)
        label = f"Marginal {what}" if stat.marginal else f"{what[0].upper()}{what[1:]}, fixed " \
            "portion only"
        return f"{label}, {pred}", label
    if stat.kind == "xb":
        return f"Linear prediction, fixed portion, {pred}", "Linear prediction, fixed portion"
    what = "probability" if stat.kind == "pr" else "mean"
    if stat.count is not None:
        what = f"Pr({result.design.response}={stat.count:g})"
    if stat.marginal:
        label = f"Marginal predicted {what}" if stat.count is None else f"Marginal {what}"
    else:
        label = (f"Predicted {what}, fixed portion only" if stat.count is None
                 else f"{what}, fixed portion only")
    return f"{label}, {pred}", label


def outcome_lines(result, stat: Statistic) -> list[str]:
    cats = result.design.glm.categories
    head = "Marginal probability" if stat.marginal else "Probability, fixed portion only"
    return [f"{k + 1}._predict: {head} ({result.design.response}=={cats[k]:g}), "
            f"predict(pr outcome({cats[k]:g}){' fixedonly' if not stat.marginal else ''})"
            for k in stat.outcomes]
