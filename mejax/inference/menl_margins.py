"""``margins`` after ``menl``: averages of the fitted mean's fixed portion f(β, b = 0).

The prediction is the nonlinear mean with every random effect at zero (Stata's
``predict(yhat fixedonly)``), averaged over the estimation sample with variables set by
``at()``; ``dydx(x)`` averages ∂f/∂x, by forward-mode autodiff through the mean (no
finite differences). Standard errors by the delta method, the Jacobian in β by
:func:`jax.jacfwd`. The table and text are those of ``mixed``'s margins
(:func:`mejax.inference.margins.render_margins`).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from ..models.nonlinear import mean
from ._common import HypothesisError, PostResult, row_df
from .margins import parse_command, parse_numlist
from .margins_table import render_margins

_PREDICTIONS = ("", "yhat", "yhat fixedonly", "fixedonly yhat")


def _scenarios(result, at) -> list[dict]:
    """``at`` (Stata text ``x=(1 2) z=0`` or a dict) -> one dict of values per scenario."""
    if at is None or at in ("", {}):
        return [{}]
    if isinstance(at, str):
        pattern = r"([A-Za-z_]\w*)\s*=\s*(\([^()]*\)|[^\s()]+)"
        spec = {m.group(1): m.group(2).strip("()") for m in re.finditer(pattern, at)}
        if re.sub(pattern, "", at).strip() or not spec:
            raise HypothesisError(f"cannot parse at({at}); use at(x1=(0 1 2) x2=1)")
        axes = {name: parse_numlist(value) for name, value in spec.items()}
    elif isinstance(at, dict):
        axes = {name: [float(v) for v in np.atleast_1d(value)] for name, value in at.items()}
    else:
        raise HypothesisError("at must be Stata text or a dict mapping variables to values")
    for name in axes:
        _check_variable(result, name)
    grid = np.meshgrid(*axes.values(), indexing="ij")
    return [dict(zip(axes, (float(g.flat[i]) for g in grid))) for i in range(grid[0].size)]


def _check_variable(result, name: str) -> None:
    columns = result.design.arrays.data
    if name not in columns:
        raise HypothesisError(f"variable {name!r} is not a variable of the menl mean; "
                              f"variables are {', '.join(columns) or '(none)'}")


def margins(result, spec: str = "", at=None, dydx=None, level: float | None = None
            ) -> PostResult:
    """Predictive margins of the mean at zero random effects, or average marginal effects
    (``dydx``) of its variables; ``spec`` is Stata's text after ``margins``."""
    terms, options = parse_command(spec or "")
    if terms:
        raise HypothesisError("margins after menl takes no varlist (menl's expressions have "
                              "no factor variables); use at(x=(0 1)) or dydx(x)")
    prediction = " ".join(str(options.get("predict") or "").lower().split())
    if prediction not in _PREDICTIONS:
        raise HypothesisError(f"margins after menl: predict({prediction}) is not available; "
                              "margins average the mean at zero random effects, "
                              "predict(yhat fixedonly)")
    at = options.get("at", at)
    dydx = options.get("dydx", dydx)
    level = float(options.get("level", result.level if level is None else level))
    scenarios = _scenarios(result, at)
    wrt = None if dydx is None else [re.sub(r"^c\.", "", v) for v in str(dydx).split()]
    for name in wrt or []:
        _check_variable(result, name)
    design = result.design
    model, arrays = design.model, design.arrays
    zeros = [jnp.zeros((m, len(names))) for m, names in zip(model.n_groups, model.effects)]

    def data_at(scenario):
        n = design.nobs
        return {**arrays.data, **{k: jnp.full(n, v) for k, v in scenario.items()}}

    def margin_fn(beta):
        out = []
        for scenario in scenarios:
            data = data_at(scenario)
            if wrt is None:
                out.append(jnp.mean(mean(beta, zeros, arrays.codes, data, model)))
                continue
            for name in wrt:
                def along(x, name=name, data=data):
                    return mean(beta, zeros, arrays.codes, {**data, name: x}, model)
                _, slope = jax.jvp(along, (data[name],), (jnp.ones_like(data[name]),))
                out.append(jnp.mean(slope))
        return jnp.stack(out)

    beta = jnp.asarray(result.fixef.to_numpy())
    est = np.asarray(margin_fn(beta))
    jac = np.asarray(jax.jacfwd(margin_fn)(beta))
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, result.vcov.to_numpy(), jac), 0.0))
    rows = [{"_at": i + 1 if at else None, "term": None, "level": None,
             **{f"at:{k}": v for k, v in sc.items()}, "dydx": name}
            for i, sc in enumerate(scenarios) for name in (wrt or [None])]
    plan = {"level": level, "scenarios": scenarios, "at": at, "dydx": wrt, "term_vars": [[]]}
    return render_margins(result, plan, rows, est, se, jac, row_df(result, jac),
                          expression="Fitted mean at zero random effects, "
                                     "predict(yhat fixedonly)",
                          ylabel="Fitted mean, fixed portion")
