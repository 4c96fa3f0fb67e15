"""Stata's ``margins`` after ``me*`` commands: margins on the response scale.

As Stata (since version 15) does, margins after a GLMM predict the mean
*marginally* with respect to the random effects by default — the
population-averaged mean E[y | x] = ∫ μ(xβ + z'b) φ(b; 0, Σ) db — and
average it over the estimation sample with the ``margins`` varlist, ``at()``
and ``dydx()`` applied (empirical Bayes predictions are not allowed with
margins: they are not functions of the estimates alone). ``predict()``
chooses ``mu`` (default), ``pr`` (with ``outcome()`` for ordinal and count
models; every ordinal category without it), ``eta``/``xb`` (the fixed
portion with offset) and ``fixedonly`` (b = 0 instead of integrating), or a
statistic of the family's own: ``pr(a,b)``, ``e(a,b)`` and ``ystar(a,b)``
after metobit and meintreg; ``median time`` (the default), ``mean time``,
``hazard``, ``surv``, ``cumhaz`` and ``density`` after mestreg, the last four
at each row's analysis time.

Standard errors use the delta method with the Jacobian of each margin in all
the estimates (β, the random-effects parameters — the marginal mean depends
on them — and cutpoints or dispersion) from :func:`jax.jacfwd`, and the
inverse observed information.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..models.glmm_structure import GlmmStructure, random_variance, relative_factor, split_params
from ..spec.design import linear_vars
from ._common import HypothesisError, option_items, row_df
from .counterfactual import counterfactual_frame, design_matrix
from .glmm_predict import outcome_code
from .margins import MarginsResult, margin_plan, render_margins
from .predict import _matrix

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
    """The ``predict()`` option of margins after a GLMM."""
    family = result.family
    items = option_items(text or "")
    own = own_statistic(family, items)
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
    kind = {"n": "mu", "eta": "xb"}.get(kinds[0] if kinds else family.default_statistic,
                                         kinds[0] if kinds else family.default_statistic)
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


def own_statistic(family, items) -> Statistic | None:
    """The family's own statistic named in ``predict()`` (None if it names none).

    Stata spells mestreg's as ``median time`` and ``mean time``; the censored
    normal's ``pr``, ``e`` and ``ystar`` take their interval as ``(a,b)``.
    """
    names = [n.lower() for n, _ in items]
    words = {"median": "median", "mean": "mean_time"}
    kinds = [words.get(n, n) for n in names if words.get(n, n) in family.statistics]
    text = " ".join(n if a is None else f"{n}({a})" for n, a in items)
    if not kinds:
        if names or family.default_statistic not in family.statistics:
            return None
        kinds = [family.default_statistic]
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


def _expression(result, stat: Statistic) -> tuple[str, str]:
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


def _outcome_lines(result, stat: Statistic) -> list[str]:
    cats = result.design.glm.categories
    head = "Marginal probability" if stat.marginal else "Probability, fixed portion only"
    return [f"{k + 1}._predict: {head} ({result.design.response}=={cats[k]:g}), "
            f"predict(pr outcome({cats[k]:g}){' fixedonly' if not stat.marginal else ''})"
            for k in stat.outcomes]


# ---- counterfactual designs ----------------------------------------------------------------
def _sample_z(result) -> np.ndarray:
    terms = result.design.re_terms
    return np.column_stack([t.z for t in terms]) if terms else np.zeros((result.nobs, 0))


def _matrices(result, overrides: dict) -> tuple[np.ndarray, np.ndarray]:
    """(X, Z) on the sample with ``overrides``; Z is rebuilt when they touch its variables."""
    design = result.design
    x = design_matrix(result, overrides)
    random_vars = set()
    for term in design.re_terms:
        random_vars |= linear_vars(term.effects) if term.effects is not None else set()
    if not set(overrides) & random_vars:
        return x, _sample_z(result)
    frame = counterfactual_frame(result, overrides)
    z = np.column_stack([_matrix(design, t.effects, frame, t.effect_names)
                         for t in design.re_terms])
    return x, z


# ---- the margins as functions of the estimates (pure, traced) -----------------------------
def _sample_mean(params, x, z, offset, trials, given, model: GlmmStructure, stat: Statistic):
    """Average prediction over the rows: (n_outcomes,); ``given`` holds each row's time."""
    beta, thetas, aux = split_params(params, model)
    eta = x @ beta + offset
    if stat.kind == "xb":
        return jnp.mean(eta)[None]
    var = None
    if stat.marginal and model.integration.has_effects:
        var = random_variance(z, relative_factor(thetas, model))
    family = model.family
    if stat.own:
        return jnp.mean(family.statistic(stat.kind, eta, given, aux, var, stat.bounds))[None]
    if stat.outcomes is not None:
        probs = family.probability(eta, aux, var)
        return jnp.mean(probs, axis=0)[jnp.asarray(stat.outcomes)]
    if stat.kind == "pr":
        return jnp.mean(family.probability(eta, aux, var, stat.count))[None]
    return jnp.mean(family.mean(eta, trials, aux, var))[None]


@partial(jax.jit, static_argnames=("model", "stat"))
def _margin_and_jacobian(params, hi, lo, scale, offset, trials, given, model, stat):
    """(mean(f(hi)) − mean(f(lo)))·scale ... as value and Jacobian in all estimates."""
    def fn(p):
        top = _sample_mean(p, hi[0], hi[1], offset, trials, given, model, stat)
        bottom = _sample_mean(p, lo[0], lo[1], offset, trials, given, model, stat)
        return scale[0] * top - scale[1] * bottom

    return fn(params), jax.jacfwd(fn)(params)


def margins(result, spec: str = "", at=None, dydx=None, level: float | None = None,
            predict: str | None = None) -> MarginsResult:
    """Predictive margins or average marginal effects on the response scale.

    ``spec`` is Stata's text after ``margins`` (``"a, at(x1=(-10(1)10))"``,
    ``"dydx(x1) predict(mu fixedonly)"``); ``predict`` may also be given as an
    argument. The default statistic is the marginal mean (probabilities of
    every category after ordinal models).
    """
    plan = margin_plan(result, spec, at, dydx, level, matrices=_matrices)
    stat = parse_statistic(result, plan["options"].get("predict", predict))
    glm = result.design.glm
    offset = jnp.asarray(glm.offset)
    trials = jnp.asarray(glm.data.get("trials", np.ones(result.nobs)))
    given = {"time": jnp.asarray(glm.data["y"])}  # survival: each row's analysis time
    params = jnp.asarray(result._fit["params"])
    ests, jacs = [], []
    for item in plan["mats"]:
        if item[0] == "plain":
            hi, lo, scale = item[1], item[1], (1.0, 0.0)
        else:
            _, hi, lo, step = item
            scale = (1.0 / step, 1.0 / step)
        est, jac = _margin_and_jacobian(params, hi, lo, jnp.asarray(scale), offset, trials,
                                        given, result.model, stat)
        ests.append(np.asarray(est))
        jacs.append(np.asarray(jac))
    est = np.stack(ests)  # (rows, outcomes)
    jac = np.stack(jacs)  # (rows, outcomes, params)
    rows = plan["rows"]
    if stat.outcomes is not None and len(stat.outcomes) > 1:  # outcome-major, as Stata
        cats = glm.categories
        rows = [{**r, "outcome": str(k + 1), "outcome_value": cats[k]}
                for k in stat.outcomes for r in plan["rows"]]
    est = est.T.reshape(-1)
    J = np.swapaxes(jac, 0, 1).reshape(-1, jac.shape[-1])
    V = result.params_vcov
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))
    expression, ylabel = _expression(result, stat)
    outcomes = (_outcome_lines(result, stat) if stat.outcomes is not None
                and len(stat.outcomes) > 1 else None)
    return render_margins(result, plan, rows, est, se, J, row_df(result, J),
                          expression=expression, ylabel=ylabel, outcomes=outcomes)
