"""Stata's ``margins`` after ``mixed`` and ``me*`` commands, written once.

A predictive margin averages a prediction over the estimation sample with
some variables set to chosen values (factor levels in the varlist, values in
``at()``); ``dydx()`` averages the derivative (or, for a factor, the discrete
change from the base level). The statistic (:mod:`.margins_statistic`) is the
fixed-portion linear prediction after ``mixed``; after a GLMM by default the
mean *marginally* with respect to the random effects — the population-averaged
E[y | x] = ∫ μ(xβ + z'b) φ(b; 0, Σ) db, as Stata (since version 15) — or a
probability, the fixed portion or a statistic of the family's own.

Standard errors use the delta method with the Jacobian of each margin in all
the estimates the result hands over (``prediction_estimates()``: β after
``mixed``, with Kenward–Roger's covariance under ``dfmethod(kroger)``; β, the
random-effects parameters — the marginal mean depends on them — and cutpoints
or dispersion after a GLMM, with the inverse observed information or its
sandwich) from :func:`jax.jacfwd`.
"""

from __future__ import annotations

import itertools
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..models.glmm_structure import GlmmStructure, random_variance, relative_factor, split_params
from ..spec.design import level_label, linear_vars
from ._common import HypothesisError, option_items, row_df
from .counterfactual import (
    check_variable,
    counterfactual_frame,
    design_matrix,
    factor_levels,
    match_level,
)
from .counterfactual import is_factor as _is_factor_var
from .margins_statistic import Statistic, expression, outcome_lines, parse_statistic
from .margins_table import MarginsResult, render_margins
from .marginsplot import marginsplot
from .prediction_rows import part_matrix

__all__ = ["MarginsResult", "margins", "margin_plan", "marginsplot", "parse_numlist",
           "render_margins"]


def parse_numlist(text: str) -> list[float]:
    """Stata numlist: ``0 1 2``, ``0(1)3``, ``0(.5)2 5``, ``1/4``."""
    out: list[float] = []
    for tok in re.findall(r"-?[\d.]+\(-?[\d.]+\)-?[\d.]+|-?[\d.]+/-?[\d.]+|\S+", text):
        m = re.fullmatch(r"(-?[\d.]+)\((-?[\d.]+)\)(-?[\d.]+)", tok)
        m2 = re.fullmatch(r"(-?[\d.]+)/(-?[\d.]+)", tok)
        try:
            if m:
                a, step, b = (float(g) for g in m.groups())
                if step == 0 or (b - a) / step < 0:
                    raise HypothesisError(f"invalid numlist range {tok!r}")
                k = int(np.floor((b - a) / step + 1e-9))
                out += [a + i * step for i in range(k + 1)]
            elif m2:
                a, b = (float(g) for g in m2.groups())
                out += [float(v) for v in range(int(a), int(b) + 1)]
            else:
                out.append(float(tok))
        except ValueError:
            raise HypothesisError(f"invalid number {tok!r} in numlist {text!r}") from None
    if not out:
        raise HypothesisError(f"empty numlist {text!r}")
    return out


def _parse_at(result, at) -> list[dict]:
    """``at`` as Stata text (``x1=(0 1 2) x2=1``) or a dict -> list of scenarios."""
    if at is None or at == "" or at == {}:
        return [{}]
    if isinstance(at, str):
        spec = {}
        pattern = r"([A-Za-z_]\w*)\s*=\s*(\((?:[^()]|\([^()]*\))*\)|[^\s()]+)"
        for m in re.finditer(pattern, at):
            value = m.group(2)
            spec[m.group(1)] = value[1:-1] if value.startswith("(") else value
        leftover = re.sub(pattern, "", at)
        if leftover.strip() or not spec:
            raise HypothesisError(f"cannot parse at({at}); use at(x1=(0 1 2) x2=1)")
    elif isinstance(at, dict):
        spec = dict(at)
    else:
        raise HypothesisError("at must be Stata text or a dict mapping variables to values")
    axes: dict[str, list] = {}
    for name, value in spec.items():
        check_variable(result, name)
        if _is_factor_var(result, name):
            vals = value.split() if isinstance(value, str) else list(np.atleast_1d(value))
            axes[name] = [match_level(result, name, v) for v in vals]
        else:
            axes[name] = (parse_numlist(value) if isinstance(value, str)
                          else [float(v) for v in np.atleast_1d(value)])
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def parse_command(text: str) -> tuple[list[str], dict]:
    body, _, opts = text.partition(",")
    options: dict = {}
    for name, arg in option_items(opts):
        name = name.lower()
        if name == "at":
            options["at"] = arg
        elif name == "dydx":
            options["dydx"] = arg
        elif name in ("level", "l"):
            options["level"] = float(arg)
        elif name == "predict":
            options["predict"] = (arg or "").strip()
        elif name in ("noatlegend", "post", "asobserved"):
            options[name] = True
        else:
            raise HypothesisError(f"margins: unknown or unsupported option {name!r}")
    return body.split(), options


def _term_names(result, token: str) -> list[str]:
    names = [re.sub(r"^(i|ib\w*|ibn)\.", "", t) for t in token.split("#")]
    for n in names:
        check_variable(result, n)
        if not _is_factor_var(result, n):
            raise HypothesisError(
                f"{n!r} is a continuous variable: margins over it needs values, e.g. "
                f"margins, at({n}=(0 1 2)); the varlist takes factor variables only")
    return names


def margin_plan(result, spec: str = "", at=None, dydx=None, level: float | None = None,
                matrices=design_matrix) -> dict:
    """Parse a margins command into rows (labels) and the counterfactual matrices.

    ``matrices(overrides)`` builds what a prediction needs on the sample with
    ``overrides`` applied (X by default). Each entry of ``mats`` is
    ("plain", M) or ("diff", M_hi, M_lo, step) for a marginal effect.
    """
    terms, options = parse_command(spec or "")
    at = options.get("at", at)
    dydx = options.get("dydx", dydx)
    level = float(options.get("level", result.level if level is None else level))
    scenarios = _parse_at(result, at)
    term_vars = [_term_names(result, t) for t in terms] or [[]]
    if dydx is not None:
        dydx = [re.sub(r"^(i|c)\.", "", v) for v in str(dydx).split()]
        for v in dydx:
            check_variable(result, v)
    rows, mats = [], []
    for names in term_vars:
        levels = [factor_levels(result)[n] for n in names]
        for s_i, scenario in enumerate(scenarios):
            for cell in itertools.product(*levels):
                base = {**scenario, **dict(zip(names, cell))}
                label = {"_at": s_i + 1 if at else None, "term": "#".join(names) or None,
                         "level": " ".join(level_label(c) for c in cell) or None,
                         **{f"at:{k}": v for k, v in scenario.items()},
                         **dict(zip(names, cell))}
                if dydx is None:
                    rows.append({**label, "dydx": None})
                    mats.append(("plain", matrices(result, base)))
                    continue
                for v in dydx:
                    for key, (hi, lo, step) in _effect_mats(result, v, base, matrices):
                        rows.append({**label, "dydx": v, "effect_level": key})
                        mats.append(("diff", hi, lo, step))
    return {"rows": rows, "mats": mats, "options": options, "level": level,
            "scenarios": scenarios, "at": at, "dydx": dydx, "term_vars": term_vars}


def _effect_mats(result, var: str, base: dict, matrices=design_matrix):
    """(label, (X_hi, X_lo, step)) pairs for the effect of ``var`` given overrides."""
    if _is_factor_var(result, var):
        levels = factor_levels(result)[var]
        lo = matrices(result, {**base, var: levels[0]})
        return [(level_label(lv), (matrices(result, {**base, var: lv}), lo, 1.0))
                for lv in levels[1:]]
    frame = result.design.frame
    x = np.broadcast_to(np.asarray(base.get(var, frame.values(var)), dtype=float),
                        (len(frame),))
    spread = float(np.std(frame.values(var)))
    h = 1e-4 * (spread if spread > 0 else 1.0)
    hi = matrices(result, {**base, var: x + h})
    lo = matrices(result, {**base, var: x - h})
    return [(None, (hi, lo, 2 * h))]


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
    z = np.column_stack([part_matrix(design, t.effects, frame, t.effect_names)
                         for t in design.re_terms])
    return x, z


# ---- the margins as functions of the estimates (pure, traced) -----------------------------
def _sample_mean(params, x, z, offset, trials, given, model: GlmmStructure | None,
                 stat: Statistic):
    """Average prediction over the rows: (n_outcomes,); ``given`` holds each row's time.

    ``model`` splits the estimates into β, the random-effects and the family's
    parameters; None: they are β alone (the linear model, whose margins are of xb).
    """
    if stat.kind == "xb":
        return jnp.mean(x @ params[: x.shape[1]] + offset)[None]
    beta, thetas, aux = split_params(params, model)
    eta = x @ beta + offset
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
def _margins_and_jacobians(params, hi, lo, scales, offset, trials, given, model, stat):
    """Every row's scale₀·mean(f(hi)) − scale₁·mean(f(lo)) and its Jacobian in all the
    estimates; the rows' designs are stacked on a leading axis (one program for all)."""
    def row(hi_x, hi_z, lo_x, lo_z, scale):
        def fn(p):
            top = _sample_mean(p, hi_x, hi_z, offset, trials, given, model, stat)
            bottom = _sample_mean(p, lo_x, lo_z, offset, trials, given, model, stat)
            return scale[0] * top - scale[1] * bottom

        return fn(params), jax.jacfwd(fn)(params)

    return jax.vmap(row)(hi[0], hi[1], lo[0], lo[1], scales)


def margins(result, spec: str = "", at=None, dydx=None, level: float | None = None,
            predict: str | None = None) -> MarginsResult:
    """Predictive margins (or average marginal effects with ``dydx``).

    ``spec`` is Stata's text after ``margins`` (``"a, at(x1=(-10(1)10))"``,
    ``"dydx(x1) predict(mu fixedonly)"``); ``at`` (dict or text), ``dydx`` and
    ``predict`` may also be given as arguments. The default statistic is the
    result's ``default_prediction``: xb after ``mixed``, the marginal mean after
    me* (probabilities of every category after ordinal models). Returns a
    MarginsResult with ``table`` (DataFrame), Stata-layout text and ``plot()``.
    """
    plan = margin_plan(result, spec, at, dydx, level, matrices=_matrices)
    stat = parse_statistic(result, plan["options"].get("predict", predict))
    offset, given_rows, y = result.predictive.outcome_rows()
    offset = jnp.asarray(offset)
    trials = jnp.asarray(given_rows.get("trials", np.ones(result.nobs)))
    given = {"time": jnp.asarray(y)}  # survival: each row's analysis time
    params, vcov, model = result.predictive.estimates()
    if not plan["mats"]:
        raise HypothesisError("margins: nothing to compute")
    his, los, scales = [], [], []
    for item in plan["mats"]:
        if item[0] == "plain":
            his.append(item[1])
            los.append(item[1])
            scales.append((1.0, 0.0))
        else:
            _, hi, lo, step = item
            his.append(hi)
            los.append(lo)
            scales.append((1.0 / step, 1.0 / step))
    hi = tuple(jnp.asarray(np.stack([m[i] for m in his])) for i in (0, 1))
    lo = tuple(jnp.asarray(np.stack([m[i] for m in los])) for i in (0, 1))
    est, jac = _margins_and_jacobians(jnp.asarray(params), hi, lo, jnp.asarray(scales),
                                      offset, trials, given, model, stat)
    est = np.asarray(est)  # (rows, outcomes)
    jac = np.asarray(jac)  # (rows, outcomes, params)
    rows = plan["rows"]
    if stat.outcomes is not None and len(stat.outcomes) > 1:  # outcome-major, as Stata
        cats = result.design.glm.categories
        rows = [{**r, "outcome": str(k + 1), "outcome_value": cats[k]}
                for k in stat.outcomes for r in plan["rows"]]
    est = est.T.reshape(-1)
    J = np.swapaxes(jac, 0, 1).reshape(-1, jac.shape[-1])
    V = vcov
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))
    text, ylabel = expression(result, stat)
    outcomes = (outcome_lines(result, stat) if stat.outcomes is not None
                and len(stat.outcomes) > 1 else None)
    return render_margins(result, plan, rows, est, se, J, row_df(result, J),
                          expression=text, ylabel=ylabel, outcomes=outcomes)
