"""Public entry points: the formula API and the Stata command-line API."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .api_checks import (
    check_family,
    check_keywords,
    check_level,
    stata_numeric_columns,
    warn_binary_outcome,
)
from .designs import cbind_parts, cbind_response, with_stset
from .families import Gaussian
from .fit.glmm import DEFAULT_NODES, canonical_method, fit_glmm_design
from .fit.glmm_report import glmm_report
from .fit.lmm_report import lmm_report
from .fit.mixed import fit_design
from .inference.dof import canonical_dfmethod
from .lazy import lazy_module
from .results.mixed_result import MixedResult
from .spec.design import build_design
from .spec.family import SURVIVAL_ALIASES, make_family
from .spec.formula import parse_formula
from .spec.model import SpecError
from .spec.residuals import as_residuals
from .spec.st_records import st_data
from .spec.stata import parse_stata
from .spec.survey import PseudoWeights, SamplingUnits, Weighting, weight_clause
from .spec.survival import StSettings
from .stata_expr import ExprContext
from .stata_syntax import estimation_qualifiers, row_mask
from .weighting import as_survey, fit_inputs

if TYPE_CHECKING:
    from .results.glmm_result import GlmmResult

# each loads on first use: a linear model never needs the GLMM result (and its predict,
# margins and batch machinery), and only a menl command needs menl's
glmm_result = lazy_module("mejax.results.glmm_result")
menl_api = lazy_module("mejax.menl_api")


def svy_prefix(command: str, survey, subpop: str | None):
    """``svy[, subpop(var)]: cmd ...`` -> (cmd ..., the design, subpop)."""
    m = re.match(r"^\s*svy\s*(?:,\s*(?P<opts>[^:]*))?:\s*(?P<rest>.*)$", command)
    if m is None:
        return command, as_survey(survey), subpop
    if survey is None:
        raise SpecError("svy: needs a survey design: svyset it first (in a StataSession or "
                        "do-file), or pass survey='psu, strata(...) ...' to mejax.stata")
    opts = (m.group("opts") or "").strip()
    if opts:
        sub = re.fullmatch(r"subpop\(\s*(\w+)\s*\)", opts)
        if sub is None:
            raise SpecError(f"svy: option {opts!r} is not available (svy, subpop(varname):)")
        subpop = sub.group(1)
    return m.group("rest"), as_survey(survey), subpop


@check_keywords("mixed")
def mixed(formula: str, data: pd.DataFrame, *, reml: bool = False, covariance=None,
          residuals=None, level: float = 95.0, dfmethod: str | None = None,
          devices=None, weights: str | None = None, level_weights: dict | None = None,
          pwscale: str | None = None, vce: str | None = None, survey=None,
          subpop: str | None = None) -> MixedResult:
    """Fit a linear mixed model from an lme4-style formula.

    ``covariance`` overrides the random-effects covariance structure: one of
    "identity", "independent", "exchangeable", "unstructured" for every term,
    or a dict mapping a group label (e.g. "Subject", "cask:batch") to one.
    ``dfmethod`` ("residual", "repeated", "anova", "satterthwaite" or "kroger";
    the last two need REML) gives t and F tests with small-sample df.
    ``residuals`` sets the within-group residual covariance: a
    :class:`mejax.Residuals` (e.g. ``Residuals("ar", 1, t="time")``), a dict
    with the same fields, or Stata's spelling ``"ar 1, t(time)"``; errors
    correlate within the random-effects level with the most groups unless
    ``group=`` says otherwise. ML by default, as Stata; ``reml=True`` for REML.
    ``devices`` (an int, a list of JAX devices or "all") sums the cross-product
    blocks over row shards on several devices (:mod:`mejax.parallel`).
    ``weights``, ``level_weights``, ``pwscale``, ``vce``, ``survey`` and ``subpop``
    are :func:`meglm`'s: the pseudo-likelihood fit (by ML) with a sandwich variance.
    """
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as 'y ~ x + (1 | g)'")
    check_level(level)
    dfmethod = canonical_dfmethod(dfmethod, reml)
    spec = parse_formula(formula)
    warn_binary_outcome(data, spec.response, "mejax.melogit(formula, data) or mejax.meglm")
    res = as_residuals(residuals)
    if res is not None:
        spec = replace(spec, residuals=res)
    weighting = Weighting(weights, dict(level_weights or {}), pwscale)
    if weighting.any or vce is not None or survey is not None or subpop is not None:
        if covariance is not None:
            raise SpecError("covariance= with weights: give the structure in the formula "
                            "('||' for independent) or use mejax.stata's covariance()")
        options = {"reml": reml, **({"dfmethod": dfmethod} if dfmethod else {})}
        return _weighted_linear(spec, data, level, options, weighting, vce,
                                as_survey(survey), subpop)
    design = build_design(spec, data, covariance)
    options = {"dfmethod": dfmethod} if dfmethod else None
    return MixedResult(design, lmm_report(design, fit_design(design, reml, devices), reml),
                       level, options)


@check_keywords("glmm")
def meglm(formula: str, data: pd.DataFrame, family: str = "binomial", link: str | None = None,
          *, trials=None, offset: str | None = None, exposure: str | None = None,
          dispersion: str | None = None, method: str | None = None, nodes: int | None = None,
          covariance=None, level: float = 95.0, eform: str | None = None,
          weights: str | None = None, level_weights: dict | None = None,
          pwscale: str | None = None, vce: str | None = None, survey=None,
          subpop: str | None = None, devices=None) -> GlmmResult:
    """Fit a generalized linear mixed model from an lme4-style formula.

    ``family`` is "binomial" (Bernoulli without ``trials``; ``trials`` is a
    column or an integer), "poisson", "nbinomial" (``dispersion`` "mean", the default, or
    "constant") or "ordinal"; ``link`` defaults to the canonical one (logit
    for binomial and ordinal; probit and cloglog available). ``method`` is
    "mvaghq" (Stata's default, mean-variance adaptive Gauss–Hermite),
    "mcaghq" (mode-curvature, lme4's nAGQ), "ghq" (non-adaptive) or
    "laplace"; ``nodes`` points per dimension (7 by default). Nested levels
    are integrated recursively, level by level; crossed levels use the
    Laplace approximation. ``eform`` ("or", "irr") shows exponentiated
    coefficients.

    Sampling weights (pseudo-maximum likelihood, as Stata's ``[pw=]`` and
    ``pweight()``): ``weights`` names the rows' weight column, ``level_weights``
    maps a level's grouping variable to its weight column, ``pwscale`` ("size",
    "effective", "gk") rescales the rows' weights. ``vce`` is "oim" (default),
    "robust" or "cluster var". ``survey`` (a svyset specification such as
    ``"psu, strata(st) weight(w2) || _n, weight(w1)"`` or a
    :class:`mejax.SurveyDesign`) fits as Stata's ``svy:``, with ``subpop``.
    ``devices`` (an int, a list of JAX devices or "all") splits the top-level
    clusters over several devices for the fit (:mod:`mejax.glmm_parallel`; one level,
    nested levels or none, not crossed effects).
    """
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as 'y ~ x + (1 | g)'")
    check_level(level)
    check_family(family)
    formula, data, trials = cbind_response(formula, data, trials)
    fam = make_family(family, link, trials=trials, offset=offset, exposure=exposure,
                      dispersion=dispersion)
    if fam.uses_stset:
        raise SpecError(f"unknown family {family!r} for meglm: {fam.name} is a survival "
                        f"distribution; use mejax.mestreg(formula, data, time=..., "
                        f"failure=..., distribution={fam.name!r})")
    spec = replace(parse_formula(formula), family=fam)
    options = {"intmethod": method, "intpoints": nodes, "eform": eform}
    design = build_design(spec, data, covariance)
    weighting = Weighting(weights, dict(level_weights or {}), pwscale)
    sample = fit_inputs(design, data, weighting, vce, as_survey(survey), subpop)
    return _fit_glmm(design, level, options, *sample, devices=devices)


def _glmm_command(name: str, family: str, link: str):
    """``melogit`` and friends: :func:`meglm` with the family and link fixed."""
    def fit(formula: str, data: pd.DataFrame, *, trials=None, offset: str | None = None,
            exposure: str | None = None, dispersion: str | None = None,
            method: str | None = None, nodes: int | None = None, covariance=None,
            level: float = 95.0, eform: str | None = None, weights: str | None = None,
            level_weights: dict | None = None, pwscale: str | None = None,
            vce: str | None = None, survey=None, subpop: str | None = None,
            devices=None) -> GlmmResult:
        extra = {} if dispersion is None else {"dispersion": dispersion}
        return meglm(formula, data, family, link, trials=trials, offset=offset,
                     exposure=exposure, method=method, nodes=nodes, covariance=covariance,
                     level=level, eform=eform, weights=weights, level_weights=level_weights,
                     pwscale=pwscale, vce=vce, survey=survey, subpop=subpop,
                     devices=devices, **extra)

    fit.__name__ = fit.__qualname__ = name
    fit.__doc__ = (f"{family.capitalize()} mixed model with a {link} link (Stata's ``{name}``): "
                   f":func:`meglm` with ``family={family!r}, link={link!r}``.\n\n"
                   "``formula`` is lme4-style (``'y ~ x + (1 | g)'``; binomial counts as "
                   "``cbind(successes, n - successes)`` or ``trials=``); ``method`` is "
                   "'mvaghq' (default), 'mcaghq', 'ghq' or 'laplace' with ``nodes`` points; "
                   "``eform`` ('or', 'irr') shows exponentiated coefficients; the other "
                   "arguments are :func:`meglm`'s.")
    return check_keywords("glmm", name)(fit)


melogit = _glmm_command("melogit", "binomial", "logit")
meprobit = _glmm_command("meprobit", "binomial", "probit")
mecloglog = _glmm_command("mecloglog", "binomial", "cloglog")
meologit = _glmm_command("meologit", "ordinal", "logit")
meoprobit = _glmm_command("meoprobit", "ordinal", "probit")
mepoisson = _glmm_command("mepoisson", "poisson", "log")
menbreg = _glmm_command("menbreg", "nbinomial", "log")


def _formula_glmm(formula: str, data: pd.DataFrame, family, method, nodes, covariance,
                  level: float, eform: str | None, devices=None) -> GlmmResult:
    """Fit an lme4-style formula with a family built by the caller."""
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as 'y ~ x + (1 | g)'")
    check_level(level)
    spec = replace(parse_formula(formula), family=family)
    options = {"intmethod": method, "intpoints": nodes, "eform": eform}
    return _fit_glmm(build_design(spec, data, covariance), level, options, devices=devices)


@check_keywords("glmm", "metobit")
def metobit(formula: str, data: pd.DataFrame, *, ll=None, ul=None, method: str | None = None,
            nodes: int | None = None, covariance=None, level: float = 95.0,
            devices=None) -> GlmmResult:
    """Tobit mixed model (Stata's ``metobit``): y censored below ``ll`` and/or above ``ul``.

    Each limit is a number, a column name (per-row limits) or True (Stata's bare ``ll``
    / ``ul``: the smallest / largest observed y); rows at or beyond a limit are
    censored there. σ² of the latent normal is the residual variance var(e).
    ``devices``: as :func:`meglm`'s.
    """
    family = make_family("tobit", ll=ll, ul=ul, option_names={"ll": "ll=", "ul": "ul="})
    return _formula_glmm(formula, data, family, method, nodes, covariance, level, None,
                         devices)


@check_keywords("glmm", "meintreg")
def meintreg(formula: str, data: pd.DataFrame, *, upper: str | None = None,
             method: str | None = None, nodes: int | None = None, covariance=None,
             level: float = 95.0, devices=None) -> GlmmResult:
    """Interval regression mixed model (Stata's ``meintreg``): ``"lower ~ x + (1 | g)"``
    with ``upper=`` the upper bound's column, or ``"cbind(lower, upper) ~ ..."``.

    Equal bounds are exact, a missing lower bound is left-censored, a missing
    upper bound right-censored; both missing drops the row (counted).
    ``devices``: as :func:`meglm`'s.
    """
    parts = cbind_parts(formula) if isinstance(formula, str) else None
    if parts is not None:
        if upper is not None:
            raise SpecError("give the upper bound either in cbind() or as upper=, not both")
        lower, upper = parts
        formula = f"{lower} ~{formula.partition('~')[2]}"
    family = make_family("interval", upper=upper)
    return _formula_glmm(formula, data, family, method, nodes, covariance, level, None,
                         devices)


@check_keywords("glmm", "mestreg")
def mestreg(formula: str, data: pd.DataFrame, *, time: str | None = None,
            failure: str | None = None, failure_codes=None, entry: str | None = None,
            id: str | None = None, time0: str | None = None, distribution: str = "weibull",
            metric: str | None = None,
            method: str | None = None, nodes: int | None = None, covariance=None,
            level: float = 95.0, eform: str | None = "default", devices=None) -> GlmmResult:
    """Parametric survival mixed model (Stata's ``stset`` + ``mestreg``).

    ``formula`` is ``"~ x + (1 | g)"`` (or ``"time ~ ..."``); ``time`` the exit
    time, ``failure`` the failure indicator (0/1, or the values ``failure_codes``
    mean failure; None: every record fails), ``entry`` the delayed-entry time.
    ``id`` (Stata's ``stset ..., id()``) makes the rows records of subjects: each begins
    where the subject's previous one ended (or at ``time0``), no earlier than ``entry``,
    and a subject leaves at its first failure (time-varying covariates).
    ``distribution``: exponential, weibull, gompertz (PH), lognormal, loglogistic,
    gamma (AFT); ``metric="aft"`` puts exponential and Weibull in the AFT metric.
    ``eform``: hazard ratios ("hr") by default for PH models, "tr" for time ratios,
    None for coefficients. ``devices``: as :func:`meglm`'s.
    """
    if not isinstance(formula, str):
        raise SpecError("formula must be a string such as '~ x + (1 | g)'")
    lhs, sep, rhs = formula.partition("~")
    if not sep:
        raise SpecError("formula must contain '~', e.g. '~ x + (1 | g)'")
    if lhs.strip() and time is not None and lhs.strip() != time:
        raise SpecError(f"the formula's response {lhs.strip()!r} is not time={time!r}")
    time = time or lhs.strip() or None
    if time is None:
        raise SpecError("mestreg needs the survival time: time='time' (Stata: stset time)")
    key = str(distribution).strip().lower()
    if key not in SURVIVAL_ALIASES:
        raise SpecError(f"unknown distribution {distribution!r}; use exponential, weibull, "
                        "gompertz, lognormal, loglogistic or gamma")
    codes = None if failure_codes is None else tuple(float(c) for c in np.atleast_1d(
        failure_codes))
    family = make_family(SURVIVAL_ALIASES[key], metric, time=time, failure=failure,
                         failure_codes=codes, entry=entry, subject=id)
    if eform == "default":
        eform = family.default_eform({})
    if time0 is not None and id is None:
        raise SpecError("time0= describes multiple records per subject; add id=")
    data = st_data(data, StSettings(time, failure, codes, entry, id, time0))
    return _formula_glmm(f"{time} ~{rhs}", data, family, method, nodes, covariance, level,
                         eform, devices)


def _fit_glmm(design, level: float, options: dict, weights: PseudoWeights | None = None,
              sampling: SamplingUnits | None = None, devices=None) -> GlmmResult:
    try:
        method = canonical_method(options.get("intmethod"))
    except ValueError as err:
        raise SpecError(str(err)) from None
    nodes = options.get("intpoints")
    nodes = DEFAULT_NODES if nodes is None else nodes
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 128:
        raise SpecError(f"nodes={nodes!r} must be an integer between 1 and 128")
    if method == "laplace":
        nodes = 1
    if options.get("eform") not in (None, "or", "irr", "eform", "hr", "tr"):
        raise SpecError("eform must be 'or', 'irr', 'hr', 'tr' or None")
    options = {k: v for k, v in options.items() if v is not None}
    fit = fit_glmm_design(design, method, nodes, weights, devices)
    fit.update(weights=weights, sampling=sampling)
    return glmm_result.GlmmResult(design, glmm_report(design, fit), level, options)


def stata(command: str, data: pd.DataFrame, survey=None, subpop: str | None = None,
          st: StSettings | str | None = None) -> MixedResult:
    """Fit a model from a Stata command line, e.g. ``"mixed y x1 i.a || id: x1, reml"``.

    ``mixed`` and the GLMM commands ``melogit``, ``meprobit``, ``mecloglog``,
    ``meologit``, ``meoprobit``, ``mepoisson``, ``menbreg``, ``metobit``, ``meintreg``
    and ``mestreg`` are accepted, with
    ``if`` and ``in`` qualifiers after the fixed part (``mixed y x if age > 10 || id:``),
    sampling weights ``[pw=w]`` with ``pweight()`` at higher levels and ``pwscale()``,
    ``vce(robust)`` and ``vce(cluster var)``. ``menl`` (nonlinear models, Stata's
    substitutable expressions) goes to :func:`mejax.menl`. A ``svy:`` prefix (or ``survey=``, a
    svyset specification) fits with the survey design's weights and linearized variance.
    The ``bayes[, options]:`` prefix samples the model's posterior (:func:`mejax.bayes`).
    ``mestreg`` reads the survival time, failure and entry from ``st``:
    :func:`mejax.spec.survival.parse_stset`'s settings or the text after ``stset``
    (``"time, failure(fail)"``).
    """
    if not isinstance(command, str):
        raise SpecError("command must be a string such as 'mixed y x || id:'")
    if re.match(r"^\s*bayes\s*[,:]", command):
        from .bayes_api import bayes  # the bayes: prefix (bayes_api builds on this module)

        return bayes(command, data, st=st)
    if command.split(maxsplit=1)[:1] == ["menl"]:
        if survey is not None:
            raise SpecError("svy: is not available with menl")
        return menl_api.menl(command, data)
    command, survey, subpop = svy_prefix(command, survey, subpop)
    command, weight = weight_clause(command)
    command, if_exp, in_text = estimation_qualifiers(command)
    spec = parse_stata(command)
    spec, data = with_stset(spec, data, st)
    options = dict(spec.options)
    weighting = Weighting(weight[1] if weight else None, options.pop("level_weights", {}),
                          options.pop("pwscale", None))
    vce = options.pop("vce", None)
    ignored = options.pop("ignored", [])
    if ignored:
        warnings.warn(f"note: {' '.join(ignored)} ignored: mejax's optimiser has its own "
                      "convergence rules (a fit that does not converge says so)", UserWarning,
                      stacklevel=2)
    level = float(options.get("level", 95.0))
    check_level(level)
    if isinstance(data, pd.DataFrame):
        if if_exp is not None or in_text is not None:
            data = data[row_mask(ExprContext(data), if_exp, in_text)]
        data = stata_numeric_columns(data, spec)
    design = build_design(spec, data)
    sample = fit_inputs(design, data, weighting, vce, survey, subpop)
    if spec.family is None and sample != (None, None):
        return _weighted_linear(spec, data, level, options, weighting, vce, survey, subpop)
    if spec.family is not None:
        return _fit_glmm(design, level, options, *sample)
    warn_binary_outcome(data, spec.response, f"melogit {spec.response} ... || ...:")
    reml = bool(options.get("reml", False))
    if "dfmethod" in options:
        options["dfmethod"] = canonical_dfmethod(options["dfmethod"], reml)
    return MixedResult(design, lmm_report(design, fit_design(design, reml), reml), level,
                       options)


def _weighted_linear(spec, data, level: float, options: dict, weighting, vce, survey,
                     subpop) -> GlmmResult:
    """A linear mixed model with weights or a sandwich variance: the Gaussian family on the
    general engine (its Laplace approximation is the exact integral)."""
    why = "pseudo-likelihood (sampling weights, vce(robust|cluster) or svy)"
    if options.get("reml"):
        raise SpecError(f"REML is not allowed with {why}; fit by ML (the default)")
    if spec.residuals is not None:
        raise SpecError(f"residual structures are not available with {why} yet")
    if "dfmethod" in options:
        raise SpecError(f"dfmethod() is not allowed with {why}")
    spec = replace(spec, family=Gaussian())
    design = build_design(spec, data)
    sample = fit_inputs(design, data, weighting, vce, survey, subpop)
    glmm_options = {"intmethod": "laplace", **{k: v for k, v in options.items()
                                               if k not in ("reml", "mle")}}
    return _fit_glmm(design, level, glmm_options, *sample)

