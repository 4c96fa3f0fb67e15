"""Stata's ``margins`` and ``marginsplot`` after ``mixed`` (fixed-portion linear prediction).

A predictive margin averages the fixed-part prediction over the estimation
sample with some variables set to chosen values (factor levels in the
varlist, values in ``at()``); ``dydx()`` averages the derivative (or, for a
factor, the discrete change from the base level). Standard errors use the
delta method with the Jacobian of the margins in β from :func:`jax.jacfwd`.
:func:`margin_plan` and :func:`render_margins` are shared with the GLMM
margins on the response scale (:mod:`mejax.inference.glmm_margins`).
"""

from __future__ import annotations

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..spec.design import level_label
from ..text import general
from ._common import HypothesisError, PostResult, option_items, row_df
from .counterfactual import check_variable, design_matrix, factor_levels, fixed_vars, match_level
from .counterfactual import is_factor as _is_factor_var
from .hypothesis import _estimate_table
from .marginsplot import marginsplot

__all__ = ["MarginsResult", "margins", "margin_plan", "marginsplot", "parse_numlist",
           "render_margins"]


class MarginsResult(PostResult):
    """Margins (a dict of numbers with Stata's text) that can draw themselves."""

    def plot(self, ax=None, **options):
        """Stata's ``marginsplot`` of these margins (options: ``noci``, ``title``,
        ``xtitle``, ``ytitle``, ``recast``, ``saving``, ``replace``); a Figure."""
        return marginsplot(self, ax, **options)


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


def _parse_command(text: str) -> tuple[list[str], dict]:
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


def margins(result, spec: str = "", at=None, dydx=None, level: float | None = None
            ) -> MarginsResult:
    """Predictive margins (or average marginal effects with ``dydx``).

    ``spec`` is Stata's text after ``margins`` (``"a, at(x1=(0 1 2))"``);
    ``at`` (dict or text) and ``dydx`` may also be given as arguments.
    Returns a MarginsResult with ``table`` (DataFrame), Stata-layout text and ``plot()``.
    """
    plan = margin_plan(result, spec, at, dydx, level)
    pred = plan["options"].get("predict")
    if pred not in (None, "", "xb"):
        raise HypothesisError(f"margins: predict({pred}) is not supported; only xb")
    mats = plan["mats"]

    def margin_fn(b):
        """The margins as a function of β (the delta method differentiates this)."""
        out = []
        for item in mats:
            if item[0] == "plain":
                out.append(jnp.mean(jnp.asarray(item[1]) @ b))
            else:
                _, hi, lo, step = item
                out.append(jnp.mean((jnp.asarray(hi) @ b - jnp.asarray(lo) @ b) / step))
        return jnp.stack(out)

    beta = jnp.asarray(result.fixef.to_numpy())
    est = np.asarray(margin_fn(beta))
    J = np.asarray(jax.jacfwd(margin_fn)(beta))
    V = result.vcov.to_numpy()
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))
    return render_margins(result, plan, plan["rows"], est, se, J, row_df(result, J))


def margin_plan(result, spec: str = "", at=None, dydx=None, level: float | None = None,
                matrices=design_matrix) -> dict:
    """Parse a margins command into rows (labels) and the counterfactual matrices.

    ``matrices(overrides)`` builds what a prediction needs on the sample with
    ``overrides`` applied (X by default). Each entry of ``mats`` is
    ("plain", M) or ("diff", M_hi, M_lo, step) for a marginal effect.
    """
    terms, options = _parse_command(spec or "")
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


def render_margins(result, plan: dict, rows: list[dict], est, se, J, df,
                   expression: str = "Linear prediction, fixed portion, predict()",
                   ylabel: str = "Linear prediction, fixed portion",
                   outcomes: list[str] | None = None) -> MarginsResult:
    """The margins PostResult: table, Stata text and what marginsplot needs.

    Rows may carry an ``outcome`` (Stata's ``_predict``, one per predicted
    outcome, listed in ``outcomes`` for the header).
    """
    level, scenarios, at = plan["level"], plan["scenarios"], plan["at"]
    dydx, term_vars = plan["dydx"], plan["term_vars"]
    if not rows:
        raise HypothesisError("margins: nothing to compute")
    keys = pd.DataFrame(rows)
    has_at = bool(at) and len(scenarios) > 1
    has_terms = any(term_vars)
    has_out = any(r.get("outcome") is not None for r in rows)
    # row labels and group headers, as Stata
    labels, groups = [], []
    for r in rows:
        parts = [p for p in (r.get("effect_level"), r.get("outcome"),
                             str(r["_at"]) if has_at else None, r["level"]) if p]
        if dydx is not None:
            groups.append(r["dydx"] if parts else None)
            labels.append(" ".join(parts) if parts else r["dydx"])
        elif has_at or has_terms or has_out:
            groups.append(_abbreviate("#".join((["_predict"] if has_out else [])
                                               + (["_at"] if has_at else [])
                                               + ([r["term"]] if has_terms else []))))
            labels.append(" ".join(parts))
        else:
            groups.append(None)
            labels.append("_cons")
    header = "dy/dx" if dydx is not None else "Margin"
    title = ["             |            Delta-method"]
    frame, lines = _estimate_table(result, "", labels, est, se, df, level, header=header,
                                   groups=groups if any(g for g in groups) else None,
                                   title_row=title)
    frame = frame.rename(columns={"estimate": "margin" if dydx is None else "dydx"})
    for col in keys.columns:
        frame[col if col not in frame.columns else f"key_{col}"] = keys[col].to_numpy()
    kind = "Average marginal effects" if dydx is not None else (
        "Adjusted predictions" if has_at and not has_terms and _all_pinned(result, scenarios)
        else "Predictive margins")
    head = ["", f"{kind:<55}Number of obs = {result.nobs:>6,}", ""]
    if outcomes:
        head += outcomes
    else:
        head.append(f"Expression: {expression}")
    if dydx is not None:
        head.append(f"dy/dx wrt:  {' '.join(dydx)}")
    if at:
        head.append("")
        for i, sc in enumerate(scenarios):
            pieces = [f"{k} = {_show(v)}" for k, v in sc.items()]
            prefix = f"{i + 1}._at: " if len(scenarios) > 1 else "At: "
            head.append(prefix + ("\n" + " " * len(prefix)).join(pieces))
    notes = []
    if dydx is not None and any(_is_factor_var(result, v) for v in dydx):
        notes.append("Note: dy/dx for factor levels is the discrete change from the base level.")
    text = "\n".join(head + [""] + lines + notes)
    values = {"table": frame, "J": J, "df": df, "level": level, "scenarios": scenarios,
              "terms": [t for t in term_vars if t], "dydx": dydx, "kind": kind,
              "expression": expression, "ylabel": ylabel}
    return MarginsResult(values, text)


def _abbreviate(name: str, width: int = 12) -> str:
    """Stata's abbreviation of a long row header: its start, ``~``, its end."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "~" + name[-tail:]


def _all_pinned(result, scenarios) -> bool:
    """True when at() fixes every variable (Stata then says 'Adjusted predictions')."""
    return all(set(fixed_vars(result)) <= set(sc) for sc in scenarios)


def _show(value) -> str:
    if isinstance(value, (float, np.floating)):
        return general(value, 9)
    return level_label(value)
