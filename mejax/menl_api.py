"""``mejax.menl``: nonlinear mixed-effects models, from a JAX function or Stata's syntax."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .api_checks import check_level
from .cov.variance import Constant, Stratified, VarianceFunction, make_variance
from .errors import DataError, SpecError
from .fit.lindstrom_bates import fit_lindstrom_bates, residual_conditioning
from .fit.menl import NonlinearDesign, build_nonlinear
from .fit.menl_laplace import fit_laplace, laplace_variance
from .fit.mixed import ConvergenceWarning
from .linalg.quadrature import MAX_GRID
from .models.menl_expression import ExpressionMean
from .results.menl_result import MenlResult
from .spec.menl_residuals import (
    ResidualOptions,
    parse_rescorrelation,
    parse_rescovariance,
    suboptions,
)
from .spec.menl_syntax import MenlSpec, parse_menl
from .spec.residuals import Residuals
from .stata_expr import ExprContext
from .stata_syntax import row_mask

__all__ = ["fit_design", "menl", "menl_design"]


def menl(mean: Callable | str, data: pd.DataFrame, *, response: str | None = None,
         fixed: dict | None = None, random: dict | None = None, covariance: dict | None = None,
         resvariance: str | VarianceFunction | None = None,
         rescorrelation: str | Residuals | None = None, rescovariance: str | None = None,
         reml: bool = False, level: float = 95.0, columns: list[str] | None = None,
         method: str = "linearization", intpoints: int = 7) -> MenlResult:
    """Fit a nonlinear mixed model by Lindstrom–Bates (nlme's and Stata's ``menl`` algorithm).

    ``mean`` is Stata's menl specification as text (``"weight = {phi1:}/(1+exp(-(Time-{b2})
    /{b3})), define(phi1: {b1}+{U[Plot]}) initial(b1 19 b2 55 b3 8)"``, with the
    options ``define() initial() covariance() resvariance() reml level()``) or any JAX
    function ``mean(params, data)`` returning one mean per row: ``params`` maps each
    name in ``fixed`` to a scalar and each random effect in ``random`` to its per-row
    value, ``data`` maps column names to row arrays. ``fixed`` gives the starting values
    (``{"b1": 190, "b2": 700}``); ``random`` maps random-effect names to their level
    (``{"U": "Tree"}``, ``{"UU": "plot<zone"}`` for plots within zones). ``covariance``
    maps a level (or a tuple of its effects) to identity, independent (the default),
    exchangeable or unstructured. ``resvariance`` is Stata's ``"power _yhat"``,
    ``"power _yhat, noconstant"``, ``"exponential x"``, ``"linear x"``,
    ``"distinct, index(x)"`` (a residual sd per level of x), with ``strata(v)`` after
    power or exponential (their parameters per level of v, one σ²), or a
    :class:`mejax.cov.variance.VarianceFunction`. ``rescorrelation`` correlates the errors
    within the lowest-level groups (or ``group(v)``), as Stata's: ``"ar 1, t(time)"``,
    ``"ma 1"``, ``"ctar1, t(time)"`` (continuous-time AR(1)), ``"exchangeable"``,
    ``"toeplitz 2"``, ``"unstructured, t(time)"`` (free correlations, one variance) or a
    :class:`mejax.spec.residuals.Residuals`; ``rescovariance``
    is Stata's other spelling (``"unstructured, t(time)"``, ``"independent, index(x)"``).
    With text, keyword arguments add to
    (and override) what the text says. ``method="laplace"`` (Stata syntax:
    ``intmethod(laplace)``) maximises the Laplace approximation of the marginal likelihood
    (lme4's ``nlmer``; exact when the mean is linear in the effects) instead of the
    linearised one; ``method="mvaghermite"`` (``intmethod(mvaghermite) intpoints(7)``)
    maximises the marginal likelihood by adaptive Gauss–Hermite quadrature with
    ``intpoints`` points per random effect, centred and scaled at each group's mode (one
    level of random effects; neither Stata's menl nor nlme offers it).
    """
    if isinstance(mean, str):
        return _menl_text(mean, data, response, fixed, random, covariance, resvariance,
                          _keyword_residuals(rescorrelation, rescovariance), reml, level,
                          method, intpoints)
    if not callable(mean):
        raise SpecError("mean must be Stata's menl syntax (text) or a JAX function "
                        "mean(params, data)")
    if response is None:
        raise SpecError("menl needs response= (the name of the outcome column)")
    options = _keyword_residuals(rescorrelation, rescovariance)
    variance = as_variance(_combined_variance(resvariance, options))
    check_level(level)
    design = build_nonlinear(mean, data, response, dict(fixed or {}), dict(random or {}),
                             covariance, variance, reml, columns,
                             options.correlation if options else None)
    return fit_design(design, level, method=method, intpoints=intpoints)


def _keyword_residuals(rescorrelation, rescovariance) -> ResidualOptions | None:
    if rescorrelation is not None and rescovariance is not None:
        raise SpecError("give rescorrelation= or rescovariance=, not both")
    if isinstance(rescorrelation, Residuals):
        return ResidualOptions(rescorrelation)
    if rescorrelation is not None:
        return parse_rescorrelation(str(rescorrelation))
    return None if rescovariance is None else parse_rescovariance(str(rescovariance))


def _combined_variance(resvariance, options: ResidualOptions | None):
    """resvariance() and the variance that rescovariance(independent, index()) implies."""
    if options is None or options.resvariance is None:
        return resvariance
    if resvariance is not None:
        raise SpecError("rescovariance(independent, index()) already gives the residual "
                        "variances; drop resvariance() (or use rescorrelation() with it)")
    return options.resvariance


def _menl_text(text: str, data, response, fixed, random, covariance, resvariance,
               residual_options, reml, level, method, intpoints) -> MenlResult:
    """``menl`` from Stata's syntax: the parsed expression as the mean function."""
    spec, design, level = menl_design(text, data, response, fixed, random, covariance,
                                      resvariance, residual_options, reml, level)
    command = "menl " + text.strip().removeprefix("menl").strip()
    return fit_design(design, level, {"command": command},
                      spec.method if method == "linearization" else method,
                      spec.intpoints if spec.intpoints is not None else intpoints)


def menl_design(text: str, data: pd.DataFrame, response: str | None = None,
                fixed: dict | None = None, random: dict | None = None,
                covariance: dict | None = None, resvariance=None,
                residual_options: ResidualOptions | None = None, reml: bool = False,
                level: float = 95.0) -> tuple[MenlSpec, NonlinearDesign, float]:
    """The parsed command, the design (checked, not fitted) and the level of Stata's menl
    syntax: what :func:`menl` fits and ``bayes: menl`` samples."""
    spec = parse_menl(text)
    if response is not None and response != spec.response:
        raise SpecError(f"response={response!r} differs from the equation's {spec.response!r}")
    if isinstance(data, pd.DataFrame):
        _check_variables(spec, data)
        if spec.if_exp is not None or spec.in_range is not None:
            data = data[row_mask(ExprContext(data), spec.if_exp, spec.in_range)]
    starts = {name: float(spec.initial.get(name, 0.0)) for name in spec.fixed}
    unknown = [k for k in (fixed or {}) if k not in starts]
    if unknown:
        raise SpecError(f"fixed= names {unknown[0]}, which is not a parameter of the "
                        f"expression (parameters: {', '.join(spec.fixed)})")
    starts.update({k: float(v) for k, v in (fixed or {}).items()})
    mean_fn = ExpressionMean(spec.mean, tuple(spec.defines.items()))
    if spec.rescorrelation is not None and spec.rescovariance is not None:
        raise SpecError("menl takes rescorrelation() or rescovariance(), not both")
    options = residual_options or spec.rescorrelation or spec.rescovariance
    if spec.rescovariance is not None and spec.resvariance is not None:
        raise SpecError("rescovariance() gives the residual variances itself; use "
                        "rescorrelation() with resvariance()")
    level = float(level if level != 95.0 else spec.level)
    check_level(level)
    design = build_nonlinear(mean_fn, data, spec.response, starts,
                             {**spec.random, **dict(random or {})},
                             {**spec.covariance, **dict(covariance or {})},
                             as_variance(_combined_variance(
                                 resvariance if resvariance is not None else spec.resvariance,
                                 options)),
                             bool(reml or spec.reml), spec.variables,
                             options.correlation if options else None)
    return spec, design, level


def _check_variables(spec, data: pd.DataFrame) -> None:
    for name in spec.variables:
        if name not in data.columns:
            raise DataError(f"variable {name!r} of the menl expression not found in data "
                            f"(a parameter is written in braces: {{{name}}})")
        if not pd.api.types.is_numeric_dtype(data[name]) or \
                isinstance(data[name].dtype, pd.CategoricalDtype):
            raise DataError(f"variable {name!r} of the menl expression is not numeric; "
                            "encode it (for example a 0/1 indicator)")


def fit_design(design, level: float, options: dict | None = None,
               method: str = "linearization", intpoints: int = 7) -> MenlResult:
    model = design.model
    method = check_method(method, design, intpoints)
    nodes = 1 if method == "laplace" else int(intpoints)
    us0 = tuple(np.zeros((m, len(names))) for m, names in zip(model.n_groups, model.effects))
    theta0 = np.concatenate([np.asarray(s.theta_init(), float) for s in model.structures]
                            + [np.asarray(design.residual_start, float)])
    vpar0 = np.asarray(model.variance.init(), float)
    fit = fit_lindstrom_bates(design.start, us0, theta0, vpar0, design.arrays,
                              model)
    variance = None
    if method != "linearization":
        fit, params, cov = fit_laplace(fit, design.arrays, model, nodes)
        variance = laplace_variance(params, cov, model)
    options = {**(options or {}), **({"intpoints": nodes} if method == "mvaghermite" else {})}
    problem = residual_conditioning(fit.theta, design.arrays, model)
    if problem:
        fit = fit._replace(converged=np.asarray(False))
    result = MenlResult(design, fit, level, options, method, variance, problem)
    if not result.converged:
        what = {"laplace": "Laplace optimisation", "mvaghermite": "quadrature optimisation"
                }.get(method, "Lindstrom-Bates iterations")
        why = problem or f"{result.iterations} iterations"
        warnings.warn(f"menl: {what} did not converge ({why})", ConvergenceWarning,
                      stacklevel=3)
    return result


_METHODS = {"linearization": "linearization", "laplace": "laplace",
            "mvaghermite": "mvaghermite", "aghq": "mvaghermite"}


def check_method(method: str, design, intpoints: int = 7) -> str:
    """The integration method's canonical name, refused where it does not apply."""
    key = str(method).strip().lower()
    if key.startswith("mvagh") or key == "aghermite":
        key = "mvaghermite"
    if key not in _METHODS:
        raise SpecError(f"method={method!r}: use 'linearization' (Lindstrom-Bates, as nlme and "
                        "Stata), 'laplace' or 'mvaghermite' (adaptive quadrature)")
    method = _METHODS[key]
    if method == "linearization":
        return method
    if method == "mvaghermite" and (isinstance(intpoints, bool) or int(intpoints) != intpoints
                                    or not 1 <= int(intpoints) <= 128):
        raise SpecError(f"intpoints({intpoints}) must be an integer from 1 to 128")
    model = design.model
    what = "Laplace likelihood" if method == "laplace" else "quadrature likelihood"
    if model.reml:
        raise SpecError(f"REML is defined for the linearization; the {what} is ML")
    if model.residual is not None:
        raise SpecError(f"the {what} is for independent errors; a residual "
                        "correlation (rescorrelation(), rescovariance()) needs the "
                        "linearization")
    if len(model.effects) != 1 and method == "mvaghermite":
        raise SpecError("the quadrature likelihood is available for one level of random "
                        "effects; use intmethod(laplace) or the linearization for nested "
                        "levels")
    if model.variance.covariate == "_yhat":
        raise SpecError(f"the {what} with a variance function of the fitted mean "
                        "(_yhat) is not available yet; use a data variable or the "
                        "linearization")
    k = len(model.effects[0])
    if method == "mvaghermite" and int(intpoints) ** k > MAX_GRID:
        raise SpecError(f"intpoints({intpoints}) with {k} random effects makes "
                        f"{int(intpoints) ** k:,} nodes per group; use fewer points or "
                        "intmethod(laplace)")
    return method


_STRATA = re.compile(r"\bstrata\s*\(\s*([^()\s]+)\s*\)", re.IGNORECASE)


def _strata(opts: str) -> tuple[str, str]:
    """``resvariance()``'s suboptions without ``strata(v)``, and ``v`` (``""`` if absent)."""
    found = _STRATA.findall(opts)
    if len(found) > 1:
        raise SpecError("resvariance(): give strata() once")
    return _STRATA.sub(" ", opts), found[0] if found else ""


def as_variance(spec) -> VarianceFunction:
    """A variance function from Stata's ``resvariance()`` text (or one already built)."""
    if spec is None:
        return Constant()
    if isinstance(spec, VarianceFunction):
        return spec
    text, _, opts = str(spec).partition(",")
    opts, strata = _strata(opts)
    words = text.split()
    if not words or words[0].lower() in ("identity", "id", "iden"):
        if strata:
            raise SpecError("resvariance(): strata() goes with power or exponential")
        return Constant()
    if strata:
        if not words[0].lower().startswith(("pow", "exp")):
            raise SpecError(f"resvariance({words[0]}): strata() is for power and exponential "
                            "(a variance per level is resvariance(distinct, index(varname)))")
        base = as_variance(f"{text},{opts}")
        return Stratified(base.covariate, base, strata)
    constant = "noconstant" not in opts.replace(" ", "").lower() and \
        not opts.strip().lower().startswith("nocons")
    if words[0].lower().startswith("dist"):
        index = suboptions(opts, "resvariance", ("index",)).get("index")
        if index is None or len(words) > 1:
            raise SpecError("resvariance(distinct) needs the variable whose levels have "
                            "their own variance: resvariance(distinct, index(varname))")
        return make_variance("distinct", index)
    covariate = words[1] if len(words) > 1 else ""
    if words[0].lower().startswith(("pow", "exp", "lin")) and not covariate:
        raise SpecError(f"resvariance({text.strip()}) needs a variable or _yhat, e.g. "
                        "resvariance(power _yhat)")
    try:
        return make_variance(words[0], covariate, constant)
    except ValueError as err:
        raise SpecError(str(err)) from None
