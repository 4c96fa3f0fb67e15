"""Power of a Wald test of fixed effects, by simulation and batch refits.

Responses are simulated from a design and parameter values (or a fitted
model's estimates with some values changed), every replicate is refitted in
compiled batches, and the Wald test of the named coefficient(s) is applied to
each fit: z for one coefficient, chi2 for several (a factor term). Power is the
share of converged fits that reject at ``alpha``, with a Wilson interval for
the Monte Carlo error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special

from ..batch.glmm import GlmmSimulator, fit_glmm_responses
from ..batch.glmm import term_covariances as glmm_term_covariances
from ..batch.lmm import fit_responses
from ..batch.result import CONVERGED, BatchResult
from ..batch.simulate import LmmSimulator, term_covariances
from ..spec.design import Design, build_design
from ..spec.formula import parse_formula
from ..spec.model import DataError, SpecError


@dataclass
class PowerResult:
    """Estimated power with its Monte Carlo interval, and the fits behind it."""

    power: float
    ci_lower: float
    ci_upper: float
    n_sim: int
    n_used: int  # converged fits the power is computed from
    alpha: float
    test: list[str]
    p_values: np.ndarray  # per replicate; NaN where the fit did not converge
    batch: BatchResult
    level: float = 95.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "test": " ".join(self.test), "alpha": self.alpha, "power": self.power,
            "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "n_sim": self.n_sim,
            "n_used": self.n_used,
        }])

    def __repr__(self) -> str:
        return (f"<PowerResult test of {' '.join(self.test)} at alpha={self.alpha:g}: "
                f"power {self.power:.3f} [{self.ci_lower:.3f}, {self.ci_upper:.3f}] "
                f"({self.n_used} of {self.n_sim} fits)>")


def wilson_interval(successes: int, n: int, level: float = 95.0) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n == 0:
        return float("nan"), float("nan")
    z = float(special.ndtri(0.5 + level / 200))
    phat = successes / n
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def coefficient_index(names: list[str], test) -> list[int]:
    """Positions of the coefficients tested: a column name, a list of them, or a factor name.

    A factor's name picks all its indicator columns (R's ``a2``, ``a3``; Stata's
    ``2.a``, ``3.a``).
    """
    wanted = [test] if isinstance(test, str) else list(test)
    index = []
    for name in wanted:
        if name in names:
            index.append(names.index(name))
            continue
        found = [i for i, col in enumerate(names)
                 if (col.startswith(name) and col[len(name):].isalnum())
                 or col.endswith(f".{name}")]
        if not found:
            raise SpecError(f"no fixed effect {name!r}; the model's fixed effects are {names}")
        index.extend(found)
    return sorted(set(index))


def wald_p_values(beta: np.ndarray, vcov: np.ndarray, index: list[int]) -> np.ndarray:
    """Per fit, the p-value of the Wald test that β[index] = 0."""
    b = beta[:, index]
    v = vcov[:, index][:, :, index]
    with np.errstate(invalid="ignore", divide="ignore"):
        if len(index) == 1:
            z = b[:, 0] / np.sqrt(v[:, 0, 0])
            return 2 * special.ndtr(-np.abs(z))
        chi2 = np.einsum("bi,bi->b", b, np.linalg.solve(v, b[:, :, None])[:, :, 0])
        return special.chdtrc(len(index), chi2)


def _term_index(design: Design, group: str) -> int:
    labels = [t.label for t in design.re_terms]
    if group in labels:
        return labels.index(group)
    raise SpecError(f"no random-effect term {group!r}; the terms are {labels}")


def _fixed_and_covariances(design: Design, fixef, varcomp, base=None):
    """β and Σ_t per term from user values, over ``base`` (a fit's estimates) if given."""
    names = list(design.x_names)
    beta = np.zeros(len(names)) if base is None else np.array(base["beta"], dtype=float)
    for name, value in dict(fixef or {}).items():
        if name not in names:
            raise SpecError(f"no fixed effect {name!r}; the model's fixed effects are {names}")
        beta[names.index(name)] = float(value)
    covs = {} if base is None else dict(base["covs"])
    for group, value in dict(varcomp or {}).items():
        i = _term_index(design, group)
        matrix = np.atleast_2d(np.asarray(value, dtype=float))
        k = design.re_terms[i].z.shape[1]
        if matrix.shape == (1, 1) and k > 1:
            matrix = matrix[0, 0] * np.eye(k)
        if matrix.shape != (k, k):
            raise SpecError(f"varcomp[{group!r}] must be a variance or a {k}×{k} covariance "
                            f"matrix ({', '.join(design.re_terms[i].effect_names)})")
        covs[i] = matrix
    missing = [t.label for i, t in enumerate(design.re_terms) if i not in covs]
    if missing:
        raise SpecError(f"give the variance of every random-effect term: varcomp= is missing "
                        f"{missing}")
    return beta, covs


def _parameters(design: Design, fixef, varcomp, sigma2, base=None):
    """β, Σ_t per term and σ² from user values, over ``base`` (a fit's estimates) if given."""
    beta, covs = _fixed_and_covariances(design, fixef, varcomp, base)
    s2 = base["sigma2"] if sigma2 is None and base is not None else sigma2
    if s2 is None or not float(s2) > 0:
        raise SpecError("give a positive residual variance sigma2=")
    return beta, covs, float(s2)


def _from_result(result, fixef, varcomp, sigma2):
    """Design and parameter values from a fitted model, with overrides."""
    fit = result.report.outputs
    if fit["model"].residual is not None:
        raise SpecError("power() does not simulate residual structures; use "
                        "fit.simulate() and mejax.fit_batch() directly")
    s2 = float(fit["sigma2"])
    covs = term_covariances(result.design, fit)
    base = {"beta": fit["beta"], "covs": covs, "sigma2": s2}
    return result.design, result.reml, _parameters(result.design, fixef, varcomp, sigma2, base)


def _from_formula(formula: str, data: pd.DataFrame, covariance, fixef, varcomp, sigma2):
    if data is None:
        raise DataError("power() with a formula needs data= (the design: covariates and groups)")
    spec = parse_formula(formula)
    if spec.response not in data.columns:  # the response is simulated: any placeholder
        data = data.assign(**{spec.response: 0.0})
    spec = replace(spec, residuals=None)
    design = build_design(spec, data, covariance)
    return design, _parameters(design, fixef, varcomp, sigma2)


def _glmm_refits(result, fixef, varcomp, sigma2, rng, n_sim: int, options: dict):
    """Outcomes simulated from a fitted GLMM (with values changed) and their refits with Var(β̂)."""
    if sigma2 is not None:
        raise SpecError("sigma2= is the residual variance of a linear model; a GLMM has none "
                        "(its family fixes the level-1 variance)")
    base = {"beta": result.fixef.to_numpy(), "covs": glmm_term_covariances(result)}
    beta, covs = _fixed_and_covariances(result.design, fixef, varcomp, base)
    simulator = GlmmSimulator.from_parameters(result, beta, covs)
    return fit_glmm_responses(result, lambda lo, hi: simulator.draw(rng, hi - lo), n_sim,
                              with_vcov=True, **options)


def power(model, data: pd.DataFrame | None = None, *, test, fixef: dict | None = None,
          varcomp: dict | None = None, sigma2: float | None = None, n_sim: int = 1000,
          alpha: float = 0.05, reml: bool = False, covariance=None, seed=None,
          level: float = 95.0, chunk_size: int | None = None, progress: bool | None = None,
          devices=None) -> PowerResult:
    """Power of the Wald test that the fixed effect(s) ``test`` are zero, by simulation.

    ``model`` is a formula with ``data`` holding the design (covariates and
    grouping variables; the response column may be absent) and the true values:
    ``fixef`` (coefficient name -> value; unnamed coefficients are 0),
    ``varcomp`` (group label -> variance, or the k×k covariance matrix of the
    term's effects) and ``sigma2`` (residual variance). Or ``model`` is a fitted
    model (``mejax.mixed`` or a GLMM such as ``mejax.melogit``), whose estimates
    are the truth except the values given (a GLMM's family parameters, such as
    cutpoints or the dispersion, stay at their estimates). ``test`` is a
    coefficient name, a list of names or a factor's name.
    ``n_sim`` responses are simulated (reproducible with ``seed``), refitted in
    compiled batches (ML unless ``reml``), and each fit's Wald test is applied.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    n_sim = int(n_sim)
    if n_sim < 1:
        raise ValueError(f"n_sim must be positive, got {n_sim}")
    options = {"chunk_size": chunk_size, "progress": progress, "devices": devices,
               "desc": "power"}
    rng = np.random.default_rng(seed)
    if not isinstance(model, str) and model.design.glm is not None:
        design = model.design
        index = coefficient_index(list(design.x_names), test)
        batch = _glmm_refits(model, fixef, varcomp, sigma2, rng, n_sim, options)
    else:
        if isinstance(model, str):
            design, (beta, covs, s2) = _from_formula(model, data, covariance, fixef, varcomp,
                                                     sigma2)
        else:
            design, reml, (beta, covs, s2) = _from_result(model, fixef, varcomp, sigma2)
        index = coefficient_index(list(design.x_names), test)
        simulator = LmmSimulator.from_parameters(design, beta, covs, s2)
        batch = fit_responses(design, reml, lambda lo, hi: simulator.draw(rng, hi - lo), n_sim,
                              **options)
    ok = batch.codes == CONVERGED
    p = np.where(ok, wald_p_values(batch.outputs["beta"], batch.outputs["vcov"], index), np.nan)
    rejections = int(np.sum(p[ok] < alpha))
    n_used = int(ok.sum())
    lo, hi = wilson_interval(rejections, n_used, level)
    return PowerResult(rejections / n_used if n_used else float("nan"), lo, hi, n_sim, n_used,
                       float(alpha), [design.x_names[i] for i in index], p, batch, level)
