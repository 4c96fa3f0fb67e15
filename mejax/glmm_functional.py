"""A GLMM as pure JAX functions: marginal log likelihood and a differentiable fit.

For use inside a larger JAX program (``jax.jit``, ``jax.grad``)::

    from mejax import functional as mf

    data = mf.glmm_data("y ~ x + (1 | g)", df, "binomial", method="laplace")   # host: once
    data = mf.fit_data(mejax.metobit("y ~ x + (1 | g)", df, ll=0))          # any me* fit
    mf.glmm_loglik(data.params0, data)      # log L at any (β, θ, aux)
    est = mf.glmm_fit(data)                  # (β, θ, aux) at the optimum

    def slope(offset):                       # d estimate / d data, at the optimum
        return mf.glmm_fit(data.replace(offset=offset))[1]
    jax.grad(slope)(data.arrays["offset"])

``GlmmData`` holds the row arrays of :func:`mejax.fit.glmm.prepare` (``x``,
``offset``, ``z`` and the outcome's ``data``) and the static structure. Float
arrays can be traced and differentiated. The fit's derivatives follow the
implicit function theorem at the optimum (``optimistix.ImplicitAdjoint``), and
the objective's own derivatives through the conditional modes are exact to
second order (two Newton steps from the stopped mode), as the adjoint needs.
"""

from __future__ import annotations

import equinox as eqx
import jax
import optimistix as optx

from .api import meglm
from .fit.gain_bfgs import GainBFGS
from .fit.optimize import ATOL, RTOL, STRUCTURE
from .models.glmm import marginal_loglik
from .models.glmm_structure import GlmmStructure


class GlmmData(eqx.Module):
    """Row arrays, the static structure and a starting point of one GLMM."""

    arrays: dict
    params0: jax.Array
    structure: GlmmStructure = eqx.field(static=True)

    def replace(self, **arrays) -> GlmmData:
        """The same model with some row arrays replaced (``x=``, ``offset=``, ``z=``, ...)."""
        new = dict(self.arrays)
        for name, value in arrays.items():
            if name not in new:
                raise KeyError(f"no row array {name!r}; have {', '.join(new)}")
            new[name] = value
        return GlmmData(new, self.params0, self.structure)


def glmm_data(formula: str, data, family: str = "binomial", link: str | None = None,
              **options) -> GlmmData:
    """Build a GLMM's arrays from a formula, as :func:`mejax.meglm` (which it runs once).

    The fit gives the structure and the estimates, the default starting point
    of :func:`glmm_fit`. ``options`` are :func:`mejax.meglm`'s keywords.
    """
    return fit_data(meglm(formula, data, family, link, **options))


def fit_data(fit) -> GlmmData:
    """The arrays, structure and estimates of a fitted ``me*`` model of any family:
    ``mf.fit_data(mejax.metobit(...))``, after ``meintreg`` and ``mestreg`` too."""
    arrays = jax.tree_util.tree_map(jax.numpy.asarray, fit.report.arrays)
    return GlmmData(arrays, jax.numpy.asarray(fit.params), fit.model)


def glmm_loglik(params, data: GlmmData):
    """Marginal log likelihood at ``params`` = (β, θ, aux), by the model's integration."""
    return marginal_loglik(params, data.arrays, data.structure)


def glmm_fit(data: GlmmData, params0=None, *, max_steps: int = 500):
    """Maximum-likelihood (β, θ, aux), differentiable with respect to the data arrays."""
    start = data.params0 if params0 is None else params0
    sol = optx.minimise(
        _objective, GainBFGS(rtol=RTOL, atol=ATOL), jax.lax.stop_gradient(start),
        args={**data.arrays, STRUCTURE: data.structure}, max_steps=max_steps, throw=False,
        adjoint=optx.ImplicitAdjoint(),
    )
    return sol.value


def _objective(params, args):
    """−log L per observation; one function (the static structure in ``args``), so
    optimistix compiles it once per model, not at every call."""
    arrays = {k: v for k, v in args.items() if k != STRUCTURE}
    return -marginal_loglik(params, arrays, args[STRUCTURE], 2) / arrays["nobs"]
