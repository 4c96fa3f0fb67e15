"""Stata's ``stcurve`` after ``mestreg``: marginal survivor, hazard or cumulative hazard curves.

Covariates sit at their estimation-sample means unless ``at`` sets them (by coefficient
name, e.g. ``{"female": 1}``); the random effects are integrated out (the population
curve S(t) = E_u S(t | xβ + z'u), hazard f/S, cumulative hazard −log S), as Stata's
``stcurve`` does after ``mestreg``. Drawn by pyplot (:mod:`mejax.graph`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..errors import SpecError
from ..graph import GraphError, GraphOptions, export, label_axes, new_figure
from ..models.glmm_structure import random_variance, relative_factor, split_params

CURVES = {"survival": ("surv", "Survival"), "hazard": ("hazard", "Hazard function"),
          "cumhaz": ("cumhaz", "Cumulative hazard")}


def curve_values(result, kind: str = "survival", at: dict | None = None,
                 times=None, points: int = 200) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(times, {label: curve}) for each set of covariate values in ``at`` (a dict or a list)."""
    if kind not in CURVES:
        raise SpecError(f"stcurve: kind must be one of {', '.join(CURVES)}")
    family = result.family
    if "surv" not in family.statistics:
        raise SpecError("stcurve is available after mestreg")
    design = result.design
    t = np.linspace(0.0, float(design.glm.data["y"].max()), points + 1)[1:] \
        if times is None else np.asarray(times, dtype=float)
    if np.any(t <= 0):
        raise SpecError("stcurve: times must be positive")
    settings = [{}] if at is None else (at if isinstance(at, list) else [at])
    params = jnp.asarray(result.params)
    beta, thetas, aux = split_params(params, result.model)
    curves = {}
    for setting in settings:
        unknown = sorted(set(setting) - set(design.x_names))
        if unknown:
            raise SpecError(f"stcurve: at() names {unknown[0]!r}, not a coefficient; use one "
                            f"of {', '.join(design.x_names)}")
        x = design.x.mean(axis=0)
        for name, value in setting.items():
            x[design.x_names.index(name)] = float(value)
        eta = jnp.full(t.shape, float(x @ np.asarray(beta)))
        var = None
        if design.re_terms:
            z = np.concatenate([term.z.mean(axis=0) for term in design.re_terms])
            var = jnp.full(t.shape, float(random_variance(jnp.asarray(z)[None, :],
                                                          relative_factor(thetas,
                                                                          result.model))[0]))
        value = family.statistic(CURVES[kind][0], eta, {"time": jnp.asarray(t)}, aux, var)
        label = ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "at means"
        curves[label] = np.asarray(value)
    return t, curves


def stcurve(result, kind: str = "survival", at: dict | list | None = None, times=None,
            ax=None, *, title: str | None = None, xtitle: str | None = None,
            ytitle: str | None = None, recast: str | None = None, saving: str | None = None,
            replace: bool = False, options: GraphOptions | None = None):
    """A pyplot figure of the marginal curves (one line per ``at`` setting).

    Stata's graph options as keywords (``title``, ``xtitle``, ``ytitle``,
    ``recast(line|scatter|connected)``, ``saving``/``replace``) or as ``options``.
    """
    if options is None:
        options = GraphOptions(title=title, xtitle=xtitle, ytitle=ytitle, recast=recast,
                               saving=saving, replace=replace)
    if options.recast == "bar":
        raise GraphError("stcurve: recast(bar) does not draw a curve; use line, scatter or "
                         "connected")
    t, curves = curve_values(result, kind, at, times)
    fig, ax = new_figure(ax=ax)
    style = {"scatter": {"marker": "o", "linestyle": "none", "ms": 2},
             "connected": {"marker": "o", "ms": 2}}.get(options.recast or "line", {})
    for label, values in curves.items():
        ax.plot(t, values, label=label, **style)
    name = CURVES[kind][1]
    label_axes(ax, options, f"{name} ({result.family.title.replace('Mixed-effects ', '')})",
               "analysis time", name)
    if len(curves) > 1:
        ax.legend()
    if options.saving:
        export(fig, options.saving, replace=options.replace)
    return fig
