"""Bayesian estimation of a model the front ends built: design -> posterior draws."""

from __future__ import annotations

from ..errors import SpecError
from ..fit.menl import NonlinearDesign
from ..spec.design import Design
from .model import build_model, start_position
from .nonlinear import MlEstimates, build_nonlinear_model, start_at_estimates
from .result import BayesResult
from .sampler import Settings, run


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) or value < minimum:
        raise SpecError(f"{name}={value!r} must be an integer of at least {minimum}")
    return int(value)


def settings_from(chains=4, draws=1000, warmup=1000, thinning=1, seed=0,
                  target_accept=0.8, max_tree_depth=10) -> Settings:
    """Checked sampler settings (SpecError naming the bad one)."""
    if not isinstance(target_accept, (int, float)) or not 0 < target_accept < 1:
        raise SpecError(f"target_accept={target_accept!r} must be between 0 and 1")
    return Settings(chains=_count(chains, "chains", 1), draws=_count(draws, "draws", 10),
                    warmup=_count(warmup, "warmup", 10),
                    thinning=_count(thinning, "thinning", 1), seed=_count(seed, "seed", 0),
                    target_accept=float(target_accept),
                    max_tree_depth=_count(max_tree_depth, "max_tree_depth", 1))


def sample_design(design: Design, priors=None, settings: Settings | None = None,
                  level: float = 95.0, initial: dict | None = None,
                  progress: bool | None = None, defaults: dict | None = None,
                  integrate: str | None = None, intpoints: int = 7) -> BayesResult:
    """Sample the posterior of ``design`` with ``priors`` (Stata's defaults for the rest).

    ``integrate`` samples only the hyperparameters, the random effects integrated
    out by the maximum-likelihood engine (:func:`mejax.bayes.model.build_model`).
    """
    if design.residual is not None:
        raise SpecError("bayes: residuals() structures are not supported yet; drop residuals()")
    settings = settings or Settings()
    model, arrays = build_model(design, priors, defaults, integrate, intpoints)
    start = start_position(design, model, arrays)
    if initial:
        start = _with_initial(start, model, initial)
    records, info = run(model, arrays, start, settings, progress)
    return BayesResult(design, model, arrays, settings, records, info, level)


def sample_nonlinear(design: NonlinearDesign, ml: MlEstimates, priors=None,
                     settings: Settings | None = None, level: float = 95.0,
                     initial: dict | None = None, progress: bool | None = None,
                     defaults: dict | None = None) -> BayesResult:
    """Sample the posterior of a nonlinear model (``bayes: menl``), chains starting at the
    maximum-likelihood estimates ``ml`` (``initial`` overrides fixed parameters by name)."""
    settings = settings or Settings()
    model, arrays = build_nonlinear_model(design, ml, priors, defaults)
    start = start_at_estimates(model, ml, initial)
    records, info = run(model, arrays, start, settings, progress)
    return BayesResult(design, model, arrays, settings, records, info, level)


def _with_initial(start: dict, model, initial: dict) -> dict:
    """Starting values for coefficients given by name ({y:x1} or y:x1)."""
    coef = list(model.layout.coef_names)
    beta = start["beta"].copy()
    for ref, value in initial.items():
        key = str(ref).strip().strip("{}")
        if key not in coef:
            raise SpecError(f"initial(): {{{key}}} is not a coefficient; coefficients are "
                            f"{', '.join('{' + c + '}' for c in coef)}")
        beta[coef.index(key)] = float(value)
    return {**start, "beta": beta}
