"""Random-effect predictions and predictions of the response after a GLMM (host side).

Empirical Bayes predictions of b = Λu:

- ``ebmeans`` (Stata's default): posterior means E[b | y] with posterior
  standard deviations, by mean-variance adaptive Gauss–Hermite quadrature
  with the fit's number of points per dimension (7 after a Laplace fit),
  whatever method fitted the model, as Stata does;
- ``ebmodes``: the conditional modes û (lme4's ``ranef``) with standard
  errors from the inverse curvature of the integrand at the mode,
  Λ H⁻¹ Λ' with H = I + Σ w_i v_i v_i' (lme4's ``condVar``).

Models with nested or crossed levels have modes only: their posterior means
would need the joint integral over all levels; ``ebmeans`` then gives the
modes with a warning.

Predictions (Stata's ``predict`` after ``me*``) plug the empirical Bayes
effects into the linear predictor (``conditional``), leave them out
(``fixedonly``), or integrate them out (``marginal``: the population-
averaged mean, by the family's ``mean`` and ``probability`` with ``var``).
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules)

from ..models.glmm import conditional_posterior, posterior_moments
from ..models.glmm_structure import random_variance, relative_factor, split_params
from ..spec.design import linear_vars
from ..spec.model import DataError, SpecError
from .fitted import require_estimates
from .predict import _matrix, _new_frame, level_index, new_level_codes

KINDS = ("mu", "pr", "eta", "xb", "stdp", "reffects", "reses", "density", "residuals",
         "pearson", "deviance")
CONDITIONAL = ("ebmeans", "ebmodes", "fixedonly")
EB_NODES = 7  # integration points of ebmeans after Laplace fits
RESIDUAL_KINDS = ("residuals", "pearson", "deviance")
# Empirical Bayes effects per fitted result, computed once (weakly keyed: they go with it)
_EB_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_posterior = jax.jit(conditional_posterior, static_argnames=("model",))
_moments = jax.jit(posterior_moments, static_argnames=("model", "nodes"))


@dataclass
class TermEffects:
    """Empirical Bayes effects of one term, levels in code order."""

    index: int  # position in design.re_terms
    b: np.ndarray  # (n_levels, k)
    var: np.ndarray  # (n_levels, k, k) posterior (ebmeans) or inverse-curvature (ebmodes)
    prior: np.ndarray  # (k, k) covariance Σ of the term's effects


@dataclass
class Rows:
    """What a prediction needs on its rows: designs, offsets, given values, outcome, groups."""

    x: np.ndarray
    offset: np.ndarray
    given: dict  # the family's per-row inputs (Family.given_values): trials, limits, ...
    z: np.ndarray  # (n, K): the terms' columns side by side, design order
    codes: list[np.ndarray]  # per term; -1 for groups not in the estimation sample
    y: np.ndarray | None
    index: pd.Index
    complete: np.ndarray | None  # rows of the caller's data with all values (new data)

    @property
    def trials(self) -> np.ndarray:
        return self.given.get("trials", np.ones(len(self.x)))


# ---- empirical Bayes effects -------------------------------------------------------------
def _term_slices(model) -> list[slice]:
    out, start = [], 0
    for s in model.structures:
        out.append(slice(start, start + s.k))
        start += s.k
    return out


def _lambdas(params, model) -> list[np.ndarray]:
    _, thetas, _ = split_params(params, model)
    return [np.asarray(s.lam(t), dtype=float) for s, t in zip(model.structures, thetas)]


def _grouped_effects(u, cov_u, lams, model) -> list[TermEffects]:
    out = []
    for i, (sl, lam) in enumerate(zip(_term_slices(model), lams)):
        b = u[:, sl] @ lam.T
        var = np.einsum("ij,gjk,lk->gil", lam, cov_u[:, sl, sl], lam)
        out.append(TermEffects(i, b, var, lam @ lam.T))
    return out


def _sparse_effects(u, h_inv, lams, design) -> list[TermEffects]:
    out, start = [], 0
    for i, (term, lam) in enumerate(zip(design.re_terms, lams)):
        n, k = term.n_levels, lam.shape[0]
        idx = start + np.arange(n)[:, None] * k + np.arange(k)
        b = u[idx] @ lam.T
        var = np.einsum("ij,gjk,lk->gil", lam, h_inv[idx[:, :, None], idx[:, None, :]], lam)
        out.append(TermEffects(i, b, var, lam @ lam.T))
        start += n * k
    return out


def _modes(result) -> list[TermEffects]:
    model, arrays = result.model, result._fit["arrays"]
    params = jnp.asarray(result._fit["params"])
    mode, low, _ = _posterior(params, arrays, model)
    mode, low = np.asarray(mode, dtype=float), np.asarray(low, dtype=float)
    lams = _lambdas(params, model)
    if model.integration.per_group:
        low_inv = np.linalg.inv(low)  # H⁻¹ = L'⁻¹L⁻¹ per group
        return _grouped_effects(mode, np.einsum("gji,gjk->gik", low_inv, low_inv), lams, model)
    h_inv = scipy.linalg.cho_solve((low, True), np.eye(len(mode)))
    return _sparse_effects(mode, h_inv, lams, result.design)


def _means(result, nodes: int) -> list[TermEffects]:
    model, arrays = result.model, result._fit["arrays"]
    params = jnp.asarray(result._fit["params"])
    mean, cov = _moments(params, arrays, model, nodes)
    return _grouped_effects(np.asarray(mean, dtype=float), np.asarray(cov, dtype=float),
                            _lambdas(params, model), model)


def eb_nodes(result, nodes: int | None = None) -> int:
    """Quadrature points of the posterior means: the fit's, or 7 after Laplace (as Stata)."""
    model = result.model
    if nodes is not None:
        if int(nodes) < 1:
            raise SpecError(f"intpoints({nodes}) must be a positive integer")
        return int(nodes)
    return model.integration.posterior_nodes(EB_NODES)


def eb_effects(result, ebmodes: bool = False, nodes: int | None = None) -> list[TermEffects]:
    """Empirical Bayes means (default) or modes of every term (cached on the result)."""
    integration = result.model.integration
    if not integration.has_effects:
        return []
    means = not ebmodes and integration.has_posterior_means
    if not ebmodes and not means:
        warnings.warn("empirical Bayes means need the joint integral over nested or crossed "
                      "levels; using the empirical Bayes modes (ebmodes) instead", stacklevel=3)
    nodes = eb_nodes(result, nodes)
    key = ("means", nodes) if means else ("modes",)
    cache = _EB_CACHE.setdefault(result, {})
    if key not in cache:
        cache[key] = _means(result, nodes) if means else _modes(result)
    return cache[key]


def ranef(result, se: bool = True, ebmodes: bool = False,
          nodes: int | None = None) -> dict[str, pd.DataFrame]:
    """Empirical Bayes means (or modes) by group label: levels × effects, plus ``se_<effect>``.

    The standard errors are posterior standard deviations for the means and
    square roots of the inverse curvature for the modes (lme4's condVar).
    """
    require_estimates(result, "ranef()")
    design = result.design
    kind = ("ebmodes" if ebmodes or not result.model.integration.has_posterior_means
            else "ebmeans")
    out: dict[str, pd.DataFrame] = {}
    for te in eb_effects(result, ebmodes, nodes):
        term = design.re_terms[te.index]
        frame = pd.DataFrame(te.b, index=level_index(design, term), columns=term.effect_names)
        if se:
            sd = np.sqrt(np.maximum(np.diagonal(te.var, axis1=1, axis2=2), 0.0))
            for j, name in enumerate(term.effect_names):
                frame[f"se_{name}"] = sd[:, j]
        if term.label in out:  # (1 | g) + (0 + x | g): one table per group
            frame = pd.concat([out[term.label], frame], axis=1)
            effects = [c for c in frame.columns if not str(c).startswith("se_")]
            frame = frame[effects + [c for c in frame.columns if str(c).startswith("se_")]]
        frame.attrs["kind"] = kind
        out[term.label] = frame
    return out


# ---- rows to predict on --------------------------------------------------------------------
def _in_sample(result) -> Rows:
    design = result.design
    glm = design.glm
    frame = design.frame
    index = frame[design.response].index if frame is not None else pd.RangeIndex(design.nobs)
    z = (np.column_stack([t.z for t in design.re_terms]) if design.re_terms
         else np.zeros((design.nobs, 0)))
    return Rows(design.x, glm.offset, glm.given, z, [t.codes for t in design.re_terms],
                glm.data["y"], index, None)


def _new_rows(result, data: pd.DataFrame, with_response: bool) -> Rows:
    design = result.design
    family = result.family
    if design.fixed_part is None or design.frame is None:
        raise NotImplementedError("this result does not keep the model parts needed for data=")
    needed = set(linear_vars(design.fixed_part)) | family.columns()
    for term in design.re_terms:
        needed |= set(term.group_vars) | linear_vars(term.effects)
    if with_response:
        needed.add(design.response)
    missing = sorted(n for n in family.columns() if n not in data.columns)
    if missing and missing[0].startswith("_trials_"):
        raise DataError("the binomial trials came from cbind(successes, failures); give data= "
                        f"a column {missing[0]!r} with the number of trials")
    frame, complete = _new_frame(design, data, needed)
    n = int(complete.sum())
    x = (_matrix(design, design.fixed_part, frame, design.x_names) if n
         else np.zeros((0, len(design.x_names))))
    zs, codes = [], []
    for term in design.re_terms:
        zs.append(_matrix(design, term.effects, frame, term.effect_names) if n
                  else np.zeros((0, len(term.effect_names))))
        codes.append(new_level_codes(design, term, frame) if n else np.zeros(0, dtype=int))
    z = np.column_stack(zs) if zs else np.zeros((n, 0))
    y = None
    if with_response:
        y = family.observed(frame.values(design.response))
    offset = family.offset_values(frame) if n else np.zeros(0)
    return Rows(x, offset, family.given_values(frame, n), z, codes, y, data.index, complete)


# ---- predictions -----------------------------------------------------------------------------
def _random_part(result, rows: Rows, effects: list[TermEffects]) -> np.ndarray:
    out = np.zeros(len(rows.x))
    for te, sl in zip(effects, _term_slices(result.model)):
        codes = rows.codes[te.index]
        seen = codes >= 0
        b = np.zeros((len(codes), te.b.shape[1]))
        b[seen] = te.b[codes[seen]]
        out += np.sum(rows.z[:, sl] * b, axis=1)
    return out


def _reffects(result, rows: Rows, effects: list[TermEffects], ses: bool) -> pd.DataFrame:
    """Per row, each term's effects (or their SEs; the prior SD for unseen groups)."""
    design = result.design
    parts = {}
    for te in effects:
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


def _aux(result):
    return split_params(jnp.asarray(result._fit["params"]), result.model)[2]


def _marginal_variance(result, z: np.ndarray) -> np.ndarray:
    """Variance of each row's random part z'b (0 without random effects)."""
    model = result.model
    if not model.integration.has_effects:
        return np.zeros(len(z))
    _, thetas, _ = split_params(jnp.asarray(result._fit["params"]), model)
    return np.asarray(random_variance(jnp.asarray(z), relative_factor(thetas, model)))


def _outcome_data(result, y: np.ndarray, given: dict) -> dict:
    """The family's row arrays for observed outcomes (new data's too)."""
    glm = result.design.glm
    data, valid = glm.family.response_rows(y, given, glm.categories)
    if not np.all(valid):
        raise DataError(f"{result.design.response} has values the fitted {glm.family.name} "
                        "model cannot have (outside its categories or its range)")
    return data


def _residuals(result, kind: str, y, mu, trials) -> np.ndarray:
    """Raw, Pearson or deviance residuals of counts/successes given the mean mu."""
    family = result.family
    aux = np.asarray(_aux(result), dtype=float)
    var = family.variance(mu, trials, aux)  # raises for families without residuals
    if kind == "residuals":
        return y - mu
    if kind == "pearson":
        return (y - mu) / np.sqrt(var)
    dev = family.deviance(y, mu, trials, aux)
    return np.sign(y - mu) * np.sqrt(np.maximum(dev, 0.0))


def _statistic(result, kind: str, rows: Rows, conditional: str, marginal: bool,
               outcome, nodes: int | None, bounds=None):
    family = result.family
    beta = np.asarray(result._fit["beta"], dtype=float)
    xb = rows.x @ beta + rows.offset
    if kind == "xb":
        return xb
    if kind == "stdp":
        v = result.vcov_unadjusted.to_numpy()
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", rows.x, v, rows.x), 0.0))
    if kind in ("reffects", "reses"):
        return _reffects(result, rows, eb_effects(result, conditional == "ebmodes", nodes),
                         kind == "reses")
    if marginal and kind in ("eta",):
        return xb
    eta, var = xb, None
    if marginal:
        var = jnp.asarray(_marginal_variance(result, rows.z))
    elif conditional != "fixedonly" and result.model.integration.has_effects:
        eta = xb + _random_part(result, rows, eb_effects(result, conditional == "ebmodes",
                                                         nodes))
    if kind == "eta":
        return eta
    eta_j, aux = jnp.asarray(eta), _aux(result)
    if kind in family.statistics:  # the family's own: e(a,b), ystar(a,b), surv, hazard, ...
        given = dict(rows.given) if rows.y is None else {**rows.given, "time": rows.y}
        return np.asarray(family.statistic(kind, eta_j, given, aux, var, bounds))
    if kind == "pr":
        cats = result.design.glm.categories
        if family.pr_outcome == "category" and outcome is not None:  # one category
            probs = np.asarray(family.probability(eta_j, aux, var))
            return probs[:, outcome_code(result, outcome)]
        probs = np.asarray(family.probability(eta_j, aux, var, outcome))
        if probs.ndim == 2:
            return pd.DataFrame(probs, columns=[f"pr({c:g})" for c in cats])
        return probs
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
    return _residuals(result, kind, rows.y, mu, rows.trials)


def check_options(result, kind: str, conditional: str, marginal: bool) -> None:
    own = result.family.statistics
    if kind not in KINDS and kind not in own:
        raise SpecError(f"kind must be one of {', '.join(KINDS + own)}; got {kind!r}")
    if conditional not in CONDITIONAL:
        raise SpecError(f"conditional must be one of {', '.join(CONDITIONAL)}; "
                        f"got {conditional!r}")
    if kind in own:
        return
    if marginal and kind in ("reffects", "reses", "density") + RESIDUAL_KINDS:
        raise SpecError(f"predict, {kind}: marginal is not allowed")
    family = result.family
    if kind == "mu" and not family.has_mean:
        raise SpecError(f"predict, mu is not available after {family.name} models; use pr")


def predict(result, kind: str = "mu", data: pd.DataFrame | None = None,
            conditional: str = "ebmeans", marginal: bool = False, outcome=None,
            nodes: int | None = None, bounds=None):
    """Stata's ``predict`` after ``me*`` commands.

    ``kind``: ``mu`` (the mean: probability for binary outcomes, trials·p for
    binomial counts, expected count with exposure/offset), ``pr`` (success
    probability; every ordinal category as columns, or ``outcome=``; P(y = n)
    for counts with ``outcome=n``), ``eta`` (linear predictor with the random
    effects), ``xb`` (fixed portion with offset), ``stdp`` (its SE),
    ``reffects`` / ``reses`` (random effects and their SEs per row),
    ``density``, ``residuals`` (y − mu), ``pearson`` and ``deviance``.
    ``conditional``: "ebmeans" (default), "ebmodes" or "fixedonly" (b = 0);
    ``marginal=True`` integrates the random effects out. With ``data=`` the
    designs are rebuilt on new rows; groups not in the estimation sample get
    effects 0 (SE: the prior SD); rows with missing values give NaN.

    The family's own statistics (``family.statistics``): after metobit and
    meintreg ``pr``, ``e`` and ``ystar`` on ``bounds=(a, b)`` (None or ±inf: open);
    after mestreg ``median``, ``mean_time``, and at each row's time ``surv``,
    ``hazard``, ``cumhaz``, ``density``.
    """
    check_options(result, kind, conditional, marginal)
    require_estimates(result, f"predict(kind={kind!r})")
    needs_y = kind in ("density",) + RESIDUAL_KINDS + result.family.statistics_at_outcome
    rows = _in_sample(result) if data is None else _new_rows(result, data, needs_y)
    value = _statistic(result, kind, rows, conditional, marginal, outcome, nodes,
                       _bounds(bounds))
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


def _bounds(bounds):
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


# ---- Stata's predict command line -------------------------------------------------------------
_FLAGS = ("ebmeans", "ebmodes", "fixedonly", "marginal", "nooffset")


def predict_command(result, options: dict) -> tuple[pd.Series | pd.DataFrame,
                                                     pd.DataFrame | None, list[str]]:
    """``predict newvar(s), options`` after me*: the values, reses() SEs and Stata's notes.

    ``options`` maps lower-case option names to True or their argument.
    """
    options = dict(options)
    own = result.family.statistics
    bounds = None
    for word, kind in (("median", "median"), ("mean", "mean_time")):  # median time, mean time
        if word in options and kind in own:
            options.pop(word)
            options.pop("time", None)
            options[kind] = True
    for kind in ("e", "ystar", "pr"):
        if kind in own and isinstance(options.get(kind), str):
            bounds = options[kind]
            options[kind] = True
    known = KINDS + own
    kinds = [k for k in options if k in known and k != "reses"]
    unknown = [k for k in options if k not in known and k not in _FLAGS
               and k not in ("conditional", "outcome", "reses", "intpoints")]
    if unknown:
        raise SpecError(f"predict: option {unknown[0]} not allowed; use one of "
                        f"{', '.join(k for k in KINDS if k != 'reses')}, conditional(), "
                        "marginal, outcome(), reses()")
    if len(kinds) > 1:
        raise SpecError(f"predict: only one of {', '.join(kinds)} allowed")
    default = result.family.default_statistic
    kind = kinds[0] if kinds else ("reffects" if "reses" in options else default)
    if "reses" in options and kind != "reffects":
        raise SpecError("predict: reses() goes with reffects")
    if options.get("nooffset"):
        raise SpecError("predict: nooffset is not supported")
    conditional = str(options.get("conditional", "ebmeans")).strip().lower()
    for flag in ("ebmeans", "ebmodes", "fixedonly"):
        if options.get(flag):
            conditional = flag
    marginal = bool(options.get("marginal"))
    nodes = int(options["intpoints"]) if "intpoints" in options else None
    outcome = options.get("outcome")
    values = predict(result, kind, conditional=conditional, marginal=marginal,
                     outcome=outcome, nodes=nodes, bounds=bounds)
    ses = predict(result, "reses", conditional=conditional, nodes=nodes) \
        if "reses" in options else None
    notes = [] if kinds or "reses" in options else [f"(option {kind} assumed)"]
    notes += _predict_notes(result, kind, conditional, marginal, nodes)
    return values, ses, notes


def _predict_notes(result, kind: str, conditional: str, marginal: bool,
                   nodes: int | None) -> list[str]:
    if kind in ("xb", "stdp") or not result.model.integration.has_effects:
        return []
    means = conditional == "ebmeans" and result.model.integration.has_posterior_means
    quad = f"(using {eb_nodes(result, nodes)} quadrature points)"
    if kind in ("reffects", "reses"):
        return ([f"(calculating posterior {'means' if means else 'modes'} of random effects)"]
                + ([quad] if means else []))
    if marginal:
        return ["(marginal predictions: random effects integrated out)"]
    if conditional == "fixedonly":
        return ["(predictions based on fixed effects only)"]
    return ([f"(predictions based on fixed effects and posterior "
             f"{'means' if means else 'modes'} of random effects)"] + ([quad] if means else []))
