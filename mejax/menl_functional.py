"""A nonlinear mixed model (``menl``) as a pure JAX function: its marginal log likelihood.

For use inside a larger JAX program (``jax.jit``, ``jax.grad``, ``jax.vmap``)::

    from mejax import functional as mf

    data = mf.menl_data(mejax.menl(mean, df, fixed=..., random=...))   # host: once
    mf.menl_loglik(data.params0, data)            # log L at the fit's estimates
    jax.grad(mf.menl_loglik)(data.params0, data)  # its gradient in every parameter

The parameters are a dict: ``beta`` (fixed effects, in ``fit.fixef``'s order),
``theta`` (every level's relative covariance factor, then a residual correlation's η, as
the fit stores them), ``vpar`` (the variance function's parameters) and ``log_sigma``.

The likelihood is the marginal one of :mod:`mejax.fit.menl_laplace`, not the linearised
one: Laplace's method at each group's conditional mode (searched from the fit's modes by
damped Gauss–Newton inside the traced function, the gradient exact at the mode), or
adaptive Gauss–Hermite quadrature with the fit's ``intpoints()`` after
``intmethod(mvaghermite)``. When the mean is linear in the random effects it is the exact
integral, and it equals a Lindstrom–Bates ML fit's log likelihood at its estimates.
``MenlData.arrays`` (a :class:`~mejax.fit.lindstrom_bates.NonlinearData`) holds the row
arrays; its float arrays (``y``, the data columns) can be traced too.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .fit.lindstrom_bates import NonlinearData
from .fit.menl_laplace import integrated_loglik
from .fit.menl_laplace_nested import flatten
from .menl_api import check_method
from .models.nonlinear import NonlinearStructure


class MenlData(eqx.Module):
    """Row arrays, the static structure, the fit's modes and estimates of one menl model."""

    arrays: NonlinearData
    u0: jax.Array  # the conditional modes the search starts from (spherical effects)
    params0: dict
    structure: NonlinearStructure = eqx.field(static=True)
    nodes: int = eqx.field(static=True, default=1)

    def replace(self, **rows) -> MenlData:
        """The same model with row arrays replaced (``y=``, or data columns by name)."""
        y = rows.pop("y", self.arrays.y)
        data = dict(self.arrays.data)
        for name, value in rows.items():
            if name not in data:
                raise KeyError(f"no row array {name!r}; have y, {', '.join(data)}")
            data[name] = value
        return MenlData(self.arrays._replace(y=y, data=data), self.u0, self.params0,
                        self.structure, self.nodes)


def menl_data(fit) -> MenlData:
    """The arrays, structure, modes and estimates of a fitted ``menl`` model (any method;
    after ``intmethod(mvaghermite)`` the likelihood uses its integration points). Refused,
    as ``intmethod()`` is, for REML, a residual correlation and a variance of ``_yhat``."""
    method = "mvaghermite" if fit.method_name == "mvaghermite" else "laplace"
    nodes = int(fit.options.get("intpoints", 7)) if method == "mvaghermite" else 1
    check_method(method, fit.design, nodes)  # ML, independent errors, no _yhat variance
    model, lb = fit.design.model, fit._fit
    arrays = jax.tree_util.tree_map(jnp.asarray, fit.design.arrays)
    us = tuple(jnp.asarray(u) for u in lb.us)
    u0 = flatten(us) if len(us) > 1 else us[0]
    params0 = {"beta": jnp.asarray(lb.beta), "theta": jnp.asarray(lb.theta),
               "vpar": jnp.asarray(lb.vpar), "log_sigma": 0.5 * jnp.log(jnp.asarray(lb.sigma2))}
    return MenlData(arrays, u0, params0, model, nodes)


def menl_loglik(params: dict, data: MenlData):
    """Marginal log likelihood at ``params`` (``beta``, ``theta``, ``vpar``, ``log_sigma``)."""
    vector = jnp.concatenate([jnp.atleast_1d(params["beta"]), jnp.atleast_1d(params["theta"]),
                              jnp.atleast_1d(params["vpar"]),
                              jnp.atleast_1d(params["log_sigma"])])
    return integrated_loglik(vector, data.u0, data.arrays, data.structure, data.nodes)[0]
