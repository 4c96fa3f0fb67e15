"""``mejax.menl``: nonlinear mixed-effects models, from a JAX function or Stata's syntax."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax.numpy as jnp
import pandas as pd

from .cov.variance import Constant, VarianceFunction, make_variance
from .errors import SpecError
from .fit.lindstrom_bates import fit_lindstrom_bates
from .fit.menl import build_nonlinear
from .fit.mixed import ConvergenceWarning
from .results.menl_result import MenlResult

__all__ = ["menl"]


def menl(mean: Callable, data: pd.DataFrame, *, response: str | None = None,
         fixed: dict | None = None, random: dict | None = None, covariance: dict | None = None,
         resvariance: str | VarianceFunction | None = None, reml: bool = False,
         level: float = 95.0, columns: list[str] | None = None) -> MenlResult:
    """Fit a nonlinear mixed model by Lindstrom–Bates (nlme's and Stata's ``menl`` algorithm).

    ``mean(params, data)`` is any JAX function returning one mean per row: ``params`` maps
    each name in ``fixed`` to a scalar and each random effect in ``random`` to its per-row
    value, ``data`` maps column names to row arrays. ``fixed`` gives the starting values
    (``{"b1": 190, "b2": 700}``); ``random`` maps random-effect names to their level
    (``{"U": "Tree"}``, ``{"UU": "plot<zone"}`` for plots within zones). ``covariance``
    maps a level (or a tuple of its effects) to identity, independent (the default),
    exchangeable or unstructured. ``resvariance`` is Stata's ``"power _yhat"``,
    ``"power _yhat, noconstant"``, ``"exponential x"``, ``"linear x"`` or a
    :class:`mejax.cov.variance.VarianceFunction`.
    """
    if isinstance(mean, str):
        raise SpecError("Stata's menl syntax is not supported yet; give mean as a JAX "
                        "function mean(params, data)")
    if not callable(mean):
        raise SpecError("mean must be a JAX function mean(params, data)")
    if response is None:
        raise SpecError("menl needs response= (the name of the outcome column)")
    variance = as_variance(resvariance)
    _check_level(level)
    design = build_nonlinear(mean, data, response, dict(fixed or {}), dict(random or {}),
                             covariance, variance, reml, columns)
    return fit_design(design, level)


def fit_design(design, level: float, options: dict | None = None) -> MenlResult:
    model = design.model
    us0 = tuple(jnp.zeros((m, len(names))) for m, names in zip(model.n_groups, model.effects))
    theta0 = jnp.concatenate([jnp.asarray(s.theta_init(), float) for s in model.structures])
    vpar0 = jnp.asarray(model.variance.init(), float)
    fit = fit_lindstrom_bates(jnp.asarray(design.start), us0, theta0, vpar0, design.arrays, model)
    result = MenlResult(design, fit, level, options)
    if not result.converged:
        warnings.warn(f"menl: Lindstrom-Bates iterations did not converge "
                      f"({result.iterations} iterations)", ConvergenceWarning, stacklevel=3)
    return result


def as_variance(spec) -> VarianceFunction:
    """A variance function from Stata's ``resvariance()`` text (or one already built)."""
    if spec is None:
        return Constant()
    if isinstance(spec, VarianceFunction):
        return spec
    text, _, opts = str(spec).partition(",")
    words = text.split()
    if not words:
        return Constant()
    constant = "noconstant" not in opts.replace(" ", "").lower() and \
        not opts.strip().lower().startswith("nocons")
    if words[0].lower().startswith("dist"):
        raise SpecError("resvariance(distinct) is not supported yet; use power, exponential "
                        "or linear")
    covariate = words[1] if len(words) > 1 else ""
    if words[0].lower().startswith(("pow", "exp", "lin")) and not covariate:
        raise SpecError(f"resvariance({text.strip()}) needs a variable or _yhat, e.g. "
                        "resvariance(power _yhat)")
    try:
        return make_variance(words[0], covariate, constant)
    except ValueError as err:
        raise SpecError(str(err)) from None


def _check_level(level: float) -> None:
    if not 10 <= float(level) <= 99.99:
        raise SpecError(f"level({level}) must be between 10 and 99.99")
