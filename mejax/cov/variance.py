"""Residual variance functions: Var(e_i) = σ² g(v_i; δ)², Stata's ``resvariance()``.

One class per function owns its parameters (unconstrained for the optimiser),
their names and reporting scale, and the log relative sd log g. ``v`` is the
covariate: the fitted mean (``_yhat``, nlme's ``fitted(.)``) or a data column.
Homoskedastic errors are :class:`Constant` (no parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class VarianceFunction:
    """Base class; ``covariate`` is ``"_yhat"`` or a column name (``""`` when unused)."""

    covariate: str = ""
    label = ""

    def n_params(self) -> int:
        raise NotImplementedError

    def init(self) -> np.ndarray:
        raise NotImplementedError

    def log_sd(self, params, v):
        """log g(v; δ) per row (relative residual sd)."""
        raise NotImplementedError

    def names(self) -> list[str]:
        """Stata's names of the reported parameters, in order."""
        raise NotImplementedError

    def reported(self, params):
        """The reported values (δ, c, ...), same order as :meth:`names`."""
        raise NotImplementedError

    def interval_scales(self) -> list[str]:
        """'identity' or 'log': the scale each reported value's interval is built on."""
        raise NotImplementedError

    def row_covariate(self, fitted, covariate):
        """What :meth:`log_sd` reads per row: the fitted mean (``_yhat``) or the data's
        covariate array."""
        return fitted if self.covariate == "_yhat" else covariate


@dataclass(frozen=True)
class Constant(VarianceFunction):
    """Homoskedastic errors."""

    def n_params(self):
        return 0

    def init(self):
        return np.zeros(0)

    def log_sd(self, params, v):
        return jnp.zeros_like(v)

    def names(self):
        return []

    def reported(self, params):
        return jnp.zeros(0)

    def interval_scales(self):
        return []


@dataclass(frozen=True)
class Power(VarianceFunction):
    """g = |v|^δ + c (Stata's ``power``; ``constant=False`` is its ``noconstant``: g = |v|^δ).

    nlme's ``varConstPower`` / ``varPower``; c = exp(κ) > 0.
    """

    constant: bool = True
    label = "Power"

    def n_params(self):
        return 2 if self.constant else 1

    def init(self):
        return np.array([0.0, 0.0]) if self.constant else np.array([0.0])

    def log_sd(self, params, v):
        power = jnp.abs(v) ** params[0]
        return jnp.log(power + jnp.exp(params[1])) if self.constant else jnp.log(power)

    def names(self):
        return ["delta", "_cons"] if self.constant else ["delta"]

    def reported(self, params):
        return jnp.stack([params[0], jnp.exp(params[1])]) if self.constant else params[:1]

    def interval_scales(self):
        return ["identity", "log"] if self.constant else ["identity"]


@dataclass(frozen=True)
class Exponential(VarianceFunction):
    """g = exp(γ v) (Stata's ``exponential``; nlme's ``varExp``)."""

    label = "Exponential"

    def n_params(self):
        return 1

    def init(self):
        return np.zeros(1)

    def log_sd(self, params, v):
        return params[0] * v

    def names(self):
        return ["gamma"]

    def reported(self, params):
        return params[:1]

    def interval_scales(self):
        return ["identity"]


@dataclass(frozen=True)
class Linear(VarianceFunction):
    """Var(e) = σ² v, v > 0 (Stata's ``linear``; nlme's ``varFixed``): no parameters."""

    label = "Linear"

    def n_params(self):
        return 0

    def init(self):
        return np.zeros(0)

    def log_sd(self, params, v):
        return 0.5 * jnp.log(v)

    def names(self):
        return []

    def reported(self, params):
        return jnp.zeros(0)

    def interval_scales(self):
        return []


@dataclass(frozen=True)
class Distinct(VarianceFunction):
    """A residual sd of its own for every level of ``covariate`` (Stata's ``distinct,
    index()``; nlme's ``varIdent``): g = δ_level, δ = 1 at the first (lowest) level.

    ``v`` holds each row's level code (0, 1, ...); ``labels`` names the levels, and are
    filled from the data (:meth:`with_levels`) before the model is built.
    """

    labels: tuple[str, ...] = ()
    label = "Distinct"

    def with_levels(self, labels) -> Distinct:
        return Distinct(self.covariate, tuple(str(x) for x in labels))

    def n_params(self):
        return max(len(self.labels) - 1, 0)

    def init(self):
        return np.zeros(self.n_params())

    def log_sd(self, params, v):
        log_delta = jnp.concatenate([jnp.zeros(1, params.dtype), params])
        return log_delta[v.astype(jnp.int32)]

    def names(self):
        """The sd ratio of each level to the first (nlme's varIdent coefficients)."""
        return [f"ratio({self.covariate}={lab})" for lab in self.labels[1:]]

    def reported(self, params):
        return jnp.exp(params)

    def interval_scales(self):
        return ["log"] * self.n_params()


@dataclass(frozen=True)
class Stratified(VarianceFunction):
    """``base``'s parameters separately for every level of ``strata``, one σ² (Stata's
    ``resvariance(power _yhat, strata(g))``; nlme's ``varPower(form = ~fitted(.) | g)``).

    The data's covariate array is (n, 2): ``base``'s covariate (zeros for ``_yhat``) and
    each row's stratum code; ``labels`` names the strata, filled from the data
    (:meth:`with_levels`) before the model is built.
    """

    base: VarianceFunction = Constant()
    strata: str = ""
    labels: tuple[str, ...] = ()

    @property
    def label(self) -> str:  # type: ignore[override]
        return self.base.label

    def with_levels(self, labels) -> Stratified:
        return Stratified(self.covariate, self.base, self.strata, tuple(str(x) for x in labels))

    def n_params(self):
        return len(self.labels) * self.base.n_params()

    def init(self):
        return np.tile(self.base.init(), len(self.labels))

    def _by_stratum(self, params):
        return params.reshape(len(self.labels), self.base.n_params())

    def log_sd(self, params, v):
        per_row = self._by_stratum(params)[v[:, 1].astype(jnp.int32)]
        return jax.vmap(self.base.log_sd)(per_row, v[:, 0])

    def names(self):
        return [f"{name}({self.strata}={lab})" for lab in self.labels
                for name in self.base.names()]

    def reported(self, params):
        return jnp.concatenate([self.base.reported(p) for p in self._by_stratum(params)])

    def interval_scales(self):
        return self.base.interval_scales() * len(self.labels)

    def row_covariate(self, fitted, covariate):
        value = fitted if self.covariate == "_yhat" else covariate[:, 0]
        return jnp.stack([value, covariate[:, 1]], axis=1)


VARIANCE_FUNCTIONS = {"power": Power, "exponential": Exponential, "linear": Linear,
                      "distinct": Distinct}


def make_variance(kind: str | None, covariate: str = "", constant: bool = True
                  ) -> VarianceFunction:
    """The named variance function (``None`` or "homoskedastic": constant variance)."""
    if kind in (None, "", "homoskedastic"):
        return Constant()
    key = kind.strip().lower()
    if key.startswith("pow"):
        return Power(covariate, constant)
    if key.startswith("exp"):
        return Exponential(covariate)
    if key.startswith("lin"):
        return Linear(covariate)
    if key.startswith("dist"):
        return Distinct(covariate)
    raise ValueError(f"unknown residual variance function {kind!r}; use power, exponential, "
                     "linear or distinct")
