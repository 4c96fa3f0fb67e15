"""``mejax.bayes``: Bayesian multilevel models from a formula or a Stata command line.

The model is built by the same front ends as the maximum-likelihood fits
(:func:`mejax.designs.formula_design`, :func:`mejax.designs.stata_design`); the
sampling lives in :mod:`mejax.bayes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bayes import BayesResult, sample_design, sample_nonlinear, set_front_end, settings_from
from .bayes.nonlinear import MlEstimates, check_design, check_options, nonlinear_layout
from .bayes.prefix import WRAPPABLE, is_bayes_prefix, parse_prefix
from .designs import formula_design, stata_design
from .errors import SpecError
from .menl_api import fit_design, menl_design
from .spec.menl_syntax import parse_menl


def bayes(model: str, data: pd.DataFrame, *, family: str | None = None, link: str | None = None,
          priors: dict | None = None, chains: int = 4, draws: int = 1000, warmup: int = 1000,
          thinning: int = 1, seed: int = 0, level: float = 95.0, target_accept: float = 0.8,
          initial: dict | None = None, normalprior: float | None = None,
          igammaprior: tuple[float, float] | None = None, iwishartprior: float | None = None,
          progress: bool | None = None, trials=None, offset: str | None = None,
          exposure: str | None = None, dispersion: str | None = None,
          covariance=None, st=None, integrate: str | None = None,
          intpoints: int = 7) -> BayesResult:
    """Sample the posterior of a multilevel model with NUTS.

    ``model`` is an lme4-style formula (``"y ~ x + (1 | g)"``; a linear model, or
    a GLMM with ``family=`` and ``link=`` as :func:`mejax.meglm` takes them), a
    Stata command (``"melogit y x || id:"``) or a whole ``bayes, ...: command``
    line. ``priors`` maps Stata's parameter references to priors:
    ``{"{y:x1}": "normal(0, 100)", "{var_U0}": "igamma(1, 1)", "{y:}": "t(0, 1, 3)"}``;
    everything else gets Stata's defaults (normal(0, 10000) coefficients,
    igamma(0.01, 0.01) variances, iwishart(d+1, I(d)) unstructured covariances),
    changed by ``normalprior`` (sd), ``igammaprior`` and ``iwishartprior``.
    ``chains`` chains of ``draws`` kept draws after ``warmup`` adaptation steps,
    every ``thinning``-th transition, all chains in one compiled call.
    ``mestreg`` reads its survival time, failure and entry from ``st`` (the text
    after Stata's ``stset`` or :func:`mejax.spec.survival.parse_stset`'s settings).
    ``integrate="laplace"`` (or ``"mvaghq"``, ``"mcaghq"``, ``"ghq"`` with
    ``intpoints`` nodes) samples only β, the covariance parameters and aux, the
    random effects integrated out as the maximum-likelihood fit integrates them:
    a posterior of far fewer dimensions, exact for a Gaussian outcome, and the
    Laplace or quadrature approximation otherwise.
    ``"menl y = <expr>, define(...)"`` samples a nonlinear model (homoskedastic normal
    errors; :mod:`mejax.bayes.nonlinear` names its parameters ``{b1}``, ``{var_U}``,
    ``{sigma2}``), the chains starting at menl's maximum-likelihood estimates.
    """
    if not isinstance(model, str):
        raise SpecError("model must be a formula such as 'y ~ x + (1 | g)' or a Stata "
                        "command such as 'mixed y x || id:'")
    text = model.strip()
    settings = {"chains": chains, "draws": draws, "warmup": warmup, "thinning": thinning,
                "seed": seed}
    defaults = {"normal_sd": normalprior, "igamma": igammaprior, "iwishart_df": iwishartprior}
    chosen = dict(priors or {})
    if is_bayes_prefix(text):
        prefix = parse_prefix(text)
        text, level = prefix.command, prefix.level
        settings.update(prefix.settings)
        chosen = {**prefix.priors, **chosen}
        initial = {**prefix.initial, **(initial or {})}
        defaults = {"normal_sd": prefix.default_normal_sd or normalprior,
                    "igamma": prefix.default_igamma or igammaprior,
                    "iwishart_df": prefix.default_iwishart_df or iwishartprior}
    if text.split(maxsplit=1)[:1] == ["menl"]:
        if family is not None or integrate is not None:
            raise SpecError(f"{'family=' if family is not None else 'integrate='} does not "
                            "apply to menl: its errors are normal and its random effects "
                            "are sampled")
        sampler = settings_from(target_accept=target_accept, **settings)
        return _bayes_menl(text, data, chosen, sampler, level, initial, progress,
                           {k: v for k, v in defaults.items() if v is not None})
    if "~" in text:
        design = formula_design(text, data, family, link, trials=trials, offset=offset,
                                exposure=exposure, dispersion=dispersion, covariance=covariance,
                                linear_family=integrate is not None)
    else:
        command = text.split()[0] if text.split() else ""
        if command not in WRAPPABLE:
            raise SpecError(f"bayes: cannot wrap {command!r}; give a formula 'y ~ x + (1 | g)' "
                            f"or one of {', '.join(WRAPPABLE)}")
        if family is not None:
            raise SpecError("family= is for formulas; a Stata command names its family "
                            "(melogit, mepoisson, ...)")
        spec, _, design = stata_design(text, data, st, linear_family=integrate is not None)
        level = float(spec.options.get("level", level))
    sampler = settings_from(target_accept=target_accept, **settings)
    return sample_design(design, chosen, sampler, level, initial, progress,
                         {k: v for k, v in defaults.items() if v is not None}, integrate,
                         intpoints)


def _bayes_menl(text: str, data: pd.DataFrame, priors: dict, sampler, level: float,
                initial: dict | None, progress, defaults: dict) -> BayesResult:
    """``bayes: menl``: the ML fit (its estimates start the chains), then NUTS.

    ``initial`` values of fixed parameters also start the ML fit, where menl's own
    ``initial()`` does not give them.
    """
    spec = parse_menl(text)
    check_options(spec)
    starts = {key: float(value) for key, value in
              ((str(ref).strip().strip("{}"), v) for ref, v in (initial or {}).items())
              if key in spec.fixed and key not in spec.initial}
    spec, design, level_menl = menl_design(text, data, fixed=starts)
    check_design(design)
    nonlinear_layout(design, priors, defaults)  # unknown or improper priors, before the fit
    fit = fit_design(design, level_menl)
    effects = fit.ranef()
    ml = MlEstimates(fit.fixef.to_numpy(), fit.vcov.to_numpy(),
                     tuple(_covariance(fit.varcomp, lv.name, names)
                           for lv, names in zip(design.levels, design.model.effects)),
                     tuple(effects[lv.name].to_numpy() for lv in design.levels), fit.sigma2)
    return sample_nonlinear(design, ml, priors, sampler,
                            level if level != 95.0 else level_menl, initial, progress,
                            defaults)


def _covariance(varcomp: pd.DataFrame, level: str, names: tuple[str, ...]) -> np.ndarray:
    """Σ of one level's effects from menl's variance components (zero where not estimated)."""
    sigma = np.zeros((len(names), len(names)))
    rows = varcomp[varcomp["group"] == level]
    for _, r in rows.iterrows():
        i = names.index(r["var1"])
        j = i if r["var2"] is None or pd.isna(r["var2"]) else names.index(r["var2"])
        sigma[i, j] = sigma[j, i] = r["estimate"]
    return sigma


set_front_end(bayes)
