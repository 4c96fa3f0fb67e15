"""Stata's ``predict`` and the random-effects tables, written once for every model.

A prediction plugs the predicted random effects (BLUPs after ``mixed``,
empirical Bayes means or modes after ``me*``; :mod:`mejax.inference.effects`)
into the linear predictor (``conditional``), leaves them out (``fixedonly``)
or integrates them out (``marginal``: the population-averaged mean, by the
family's ``mean`` and ``probability`` with the variance of the random part),
and asks the family for the statistic. What differs between models the
result's :class:`~mejax.inference.effects.Predictive` answers (``result.predictive``):
the family (Gaussian identity after ``mixed``), the statistics offered, the
predicted effects, the sample's offsets and outcome, the family's parameters,
the variance of the random part and a residual structure's whitener.

``fitted`` and ``rstandard`` (the names ``mixed`` uses) are the conditional
mean and the Pearson residual — whitened by the residual structure.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..spec.model import DataError, SpecError
from .effects import RandomEffects
from .fitted import require_estimates
from .prediction_rows import Rows, level_index, new_rows, sample_rows

KINDS = ("mu", "pr", "eta", "xb", "stdp", "reffects", "reses", "density", "residuals",
         "pearson", "deviance")
LINEAR_KINDS = ("xb", "fitted", "residuals", "rstandard", "reffects", "stdp", "reses")
CONDITIONAL = ("ebmeans", "ebmodes", "fixedonly")
RESIDUAL_KINDS = ("residuals", "pearson", "deviance")
ALIASES = {"fitted": "mu", "rstandard": "pearson"}  # mixed's names for the general ones
FIXED_KINDS = ("xb", "stdp")  # statistics of the fixed part alone


# ---- random-effects tables --------------------------------------------------------------
def ranef(result, se: bool = True, ebmodes: bool = False, nodes: int | None = None,
          se_type: str | None = None) -> dict[str, pd.DataFrame]:
    """Predicted random effects by group label: levels × effects, plus ``se_<effect>``.

    After ``mixed`` the BLUPs, ``se_type`` "conditional" (lme4's condVar; the
    default for formula fits), "comparative" (adds β̂'s uncertainty) or "stata"
    (comparative after REML, conditional after ML; the default for Stata-command
    fits). After a GLMM the empirical Bayes means (or ``ebmodes``), with
    posterior standard deviations or the inverse curvature at the modes.
    """
    require_estimates(result, "ranef()")
    design = result.design
    effects = result.predictive.random_effects(ebmodes=ebmodes, nodes=nodes, se_type=se_type)
    out: dict[str, pd.DataFrame] = {}
    for te in effects.terms:
        term = design.re_terms[te.index]
        frame = pd.DataFrame(te.b, index=level_index(design, term), columns=term.effect_names)
        if se:
            sd = np.sqrt(np.maximum(np.diagonal(te.var, axis1=1, axis2=2), 0.0))
            for j, name in enumerate(term.effect_names):
                frame[f"se_{name}"] = sd[:, j]
        if term.label in out:  # (1 | g) + (0 + x | g): one table per group, as lme4
            frame = pd.concat([out[term.label], frame], axis=1)
            effects_ = [c for c in frame.columns if not str(c).startswith("se_")]
            frame = frame[effects_ + [c for c in frame.columns if str(c).startswith("se_")]]
        frame.attrs["kind"] = effects.kind
        out[term.label] = frame
    return out


# ---- the random part on the rows ----------------------------------------------------------
def _term_columns(design) -> dict[int, slice]:
    out, start = {}, 0
    for i, term in enumerate(design.re_terms):
        k = len(term.effect_names)
        out[i] = slice(start, start + k)
        start += k
    return out


def _random_part(result, rows: Rows, effects: RandomEffects) -> np.ndarray:
    out = np.zeros(len(rows.x))
    columns = _term_columns(result.design)
    for te in effects.terms:
        codes = rows.codes[te.index]
        seen = codes >= 0
        b = np.zeros((len(codes), te.b.shape[1]))
        b[seen] = te.b[codes[seen]]
        out += np.sum(rows.z[:, columns[te.index]] * b, axis=1)
    return out


def _reffects(result, rows: Rows, effects: RandomEffects, ses: bool) -> pd.DataFrame:
    """Per row, each term's effects (or their SEs; the prior SD for unseen groups)."""
    design = result.design
    parts = {}
    for te in effects.terms:
        term = design.re_terms[te.index]
        codes = rows.codes[te.index]
        seen = codes >= 0
        if ses:
            sd = np.sqrt(np.maximum(np.diagonal(te.var, axis1=1, axis2=2), 0.0))
            values = np.tile(np.sqrt(np.maximum(np.diag(te.prior), 0.0)), (len(codes), 1))
            values[seen] = sd[codes[seen]]
        else:
            values = np.zeros((len(codes), te.b.shape[1]))
            values[seen] = te.b[codes[seen]]
        for name, col in zip(term.effect_names, values.T):
            parts[f"{term.label}: {name}"] = col
    return pd.DataFrame(parts)


# ---- statistics ------------------------------------------------------------------------------
def outcome_code(result, outcome) -> int:
    """Index of an ordinal category from its value (or ``#k``, the k-th category)."""
    cats = list(result.design.glm.categories)
    if isinstance(outcome, str) and outcome.strip().startswith("#"):
        k = int(outcome.strip()[1:])
        if not 1 <= k <= len(cats):
            raise SpecError(f"outcome({outcome}) out of range: {len(cats)} categories")
        return k - 1
    try:
        value = float(outcome)
    except (TypeError, ValueError):
        raise SpecError(f"outcome({outcome}) is not a category of {result.design.response}") \
            from None
    matches = [i for i, c in enumerate(cats) if float(c) == value]
    if not matches:
        raise SpecError(f"outcome({outcome}) not found; categories are "
                        f"{', '.join(f'{c:g}' for c in cats)}")
    return matches[0]


def _outcome_data(result, y: np.ndarray, given: dict) -> dict:
    """The family's row arrays for observed outcomes (new data's too)."""
    glm = result.design.glm
    family = result.predictive.family
    data, valid = family.response_rows(y, given, glm.categories)
    if not np.all(valid):
        raise DataError(f"{result.design.response} has values the fitted {family.name} "
                        "model cannot have (outside its categories or its range)")
    return data


def _residuals(result, kind: str, rows: Rows, mu) -> np.ndarray:
    """Raw, Pearson (whitened by a residual structure) or deviance residuals given mu."""
    family = result.predictive.family
    aux = result.predictive.family_aux()
    var = family.variance(mu, rows.trials, aux)  # raises for families without residuals
    if kind == "residuals":
        return rows.y - mu
    if kind == "pearson":
        whiten = result.predictive.residual_whitener()
        if whiten is None:
            return (rows.y - mu) / np.sqrt(var)
        if rows.complete is not None:
            raise NotImplementedError(
                "rstandard on new data with a residual structure is not supported")
        return whiten(rows.y - mu) / np.sqrt(var)
    dev = family.deviance(rows.y, mu, rows.trials, aux)
    return np.sign(rows.y - mu) * np.sqrt(np.maximum(dev, 0.0))


def _statistic(result, kind: str, rows: Rows, options: dict):
    family = result.predictive.family
    conditional, marginal = options["conditional"], options["marginal"]
    beta = np.asarray(result.report.beta, dtype=float)
    xb = rows.x @ beta + rows.offset
    if kind == "xb":
        return xb
    if kind == "stdp":
        v = result.vcov_unadjusted.to_numpy()
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", rows.x, v, rows.x), 0.0))
    if kind in ("reffects", "reses"):
        return _reffects(result, rows, _effects(result, options), kind == "reses")
    if marginal and kind == "eta":
        return xb
    eta, var = xb, None
    if marginal:
        var = jnp.asarray(result.predictive.marginal_variance(rows.z))
    elif conditional != "fixedonly":
        eta = xb + _random_part(result, rows, _effects(result, options))
    if kind == "eta":
        return eta
    eta_j, aux = jnp.asarray(eta), jnp.asarray(result.predictive.family_aux())
    if kind in family.statistics:  # the family's own: e(a,b), ystar(a,b), surv, hazard, ...
        given = dict(rows.given) if rows.y is None else {**rows.given, "time": rows.y}
        return np.asarray(family.statistic(kind, eta_j, given, aux, var, options["bounds"]))
    if kind == "pr":
        return _probability(result, eta_j, aux, var, options["outcome"])
    try:
        mu = np.asarray(family.mean(eta_j, jnp.asarray(rows.trials), aux, var))
    except SpecError:
        raise SpecError(f"predict, {kind} is not available after {family.name} models; use pr") \
            from None
    if kind == "mu":
        return mu
    if rows.y is None:
        raise SpecError(f"predict, {kind} needs the outcome")
    if kind == "density":
        if marginal:
            raise SpecError("predict, density is conditional on the random effects; "
                            "marginal is not allowed")
        data = _outcome_data(result, rows.y, rows.given)
        return np.exp(np.asarray(family.log_density(eta_j, data, aux)))
    return _residuals(result, kind, rows, mu)


def _probability(result, eta, aux, var, outcome):
    family = result.predictive.family
    if family.pr_outcome == "category" and outcome is not None:  # one category
        probs = np.asarray(family.probability(eta, aux, var))
        return probs[:, outcome_code(result, outcome)]
    probs = np.asarray(family.probability(eta, aux, var, outcome))
    if probs.ndim == 2:
        cats = result.design.glm.categories
        return pd.DataFrame(probs, columns=[f"pr({c:g})" for c in cats])
    return probs


def _effects(result, options: dict) -> RandomEffects:
    return result.predictive.random_effects(ebmodes=options["conditional"] == "ebmodes",
                                 nodes=options["nodes"], se_type=options["se_type"])


def check_options(result, kind: str, conditional: str, marginal: bool) -> None:
    """Errors for a statistic or an option the result does not offer."""
    family = result.predictive.family
    own = family.statistics
    kinds = tuple(result.predictive.kinds)
    if kind not in kinds:
        raise SpecError(f"kind must be one of {', '.join(kinds)}; got {kind!r}")
    if conditional not in CONDITIONAL:
        raise SpecError(f"conditional must be one of {', '.join(CONDITIONAL)}; "
                        f"got {conditional!r}")
    if kind in own:
        return
    base = ALIASES.get(kind, kind)
    if marginal and base in ("reffects", "reses", "density") + RESIDUAL_KINDS:
        raise SpecError(f"predict, {kind}: marginal is not allowed")
    if base == "mu" and not family.has_mean:
        raise SpecError(f"predict, mu is not available after {family.name} models; use pr")


def predict(result, kind: str | None = None, data: pd.DataFrame | None = None,
            conditional: str = "ebmeans", marginal: bool = False, outcome=None,
            nodes: int | None = None, bounds=None, se_type: str | None = None):
    """Stata's ``predict`` after ``mixed`` and ``me*`` commands (see the result's ``predict``).

    ``kind`` (default: the result's ``default_prediction``): after ``me*``
    ``mu``, ``pr``, ``eta``, ``xb``, ``stdp``, ``reffects``, ``reses``,
    ``density``, ``residuals``, ``pearson``, ``deviance`` and the family's own
    statistics; after ``mixed`` ``xb``, ``fitted`` (with the BLUPs),
    ``residuals``, ``rstandard`` (whitened by a residual structure, over σ̂),
    ``reffects``, ``reses`` and ``stdp``. With ``data=`` the designs are
    rebuilt on new rows; groups not in the estimation sample get effects 0
    (SE: the prior SD); rows with missing values give NaN.
    """
    kind = result.predictive.default_kind if kind is None else kind
    check_options(result, kind, conditional, marginal)
    require_estimates(result, f"predict(kind={kind!r})")
    base = ALIASES.get(kind, kind)
    if data is None:
        rows = sample_rows(result)
    else:
        at_outcome = result.predictive.family.statistics_at_outcome
        needs_y = base in ("density",) + RESIDUAL_KINDS + at_outcome
        rows = new_rows(result, data, needs_y, base not in FIXED_KINDS)
    options = {"conditional": conditional, "marginal": marginal, "outcome": outcome,
               "nodes": nodes, "bounds": bounds_option(bounds), "se_type": se_type}
    value = _statistic(result, base, rows, options)
    if isinstance(value, pd.DataFrame):
        full = value if rows.complete is None else _scatter_frame(value, rows.complete)
        full.index = rows.index
        return full
    value = np.asarray(value, dtype=float)
    if rows.complete is not None:
        out = np.full(len(rows.complete), np.nan)
        out[rows.complete] = value
        value = out
    return pd.Series(value, index=rows.index, name=kind)


def bounds_option(bounds):
    """(a, b) with None, "." or "" as an open end; None stays None."""
    if bounds is None:
        return None
    if isinstance(bounds, str):
        bounds = bounds.split(",")
    if len(bounds) != 2:
        raise SpecError("bounds must be two values (a, b); use None or '.' for an open end")
    ends = []
    for value, open_end in zip(bounds, (-np.inf, np.inf)):
        text = str(value).strip() if value is not None else "."
        try:
            ends.append(open_end if text in (".", "", "None") else float(text))
        except ValueError:
            raise SpecError(f"bound {value!r} must be a number or '.'") from None
    return tuple(ends)


def _scatter_frame(frame: pd.DataFrame, complete: np.ndarray) -> pd.DataFrame:
    out = np.full((len(complete), frame.shape[1]), np.nan)
    out[complete] = frame.to_numpy()
    return pd.DataFrame(out, columns=frame.columns)
