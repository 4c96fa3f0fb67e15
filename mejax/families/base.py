"""The outcome family: everything about one response distribution in one class.

A family owns its host-side row arrays and their validation (one builder,
:meth:`Family.response_rows`, used by fits, refits and predictions), the log
density of y given the linear predictor η, its η-derivatives (autodiff by
default, closed forms where they pay), its extra ("aux") parameters with
their names and Stata's reporting scale, simulation, the statistics that
predict and margins offer, the latent variance of ICCs, and its titles.
Nothing outside a family's own class asks which family it is.

Families are frozen dataclasses: hashable, so they sit in the static
structure of a compiled fit.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DataError, SpecError


@dataclass(frozen=True)
class ResponseRows:
    """What :meth:`Family.validate` made of a response: the values, categories and notes."""

    y: np.ndarray
    categories: tuple = ()  # ordinal outcome values, in order
    notes: tuple[str, ...] = ()
    given: dict = field(default_factory=dict)  # per-row inputs read off the fitted response


def is_integer(values: np.ndarray) -> np.ndarray:
    """Elementwise: finite whole numbers."""
    return np.isfinite(values) & (values == np.round(values))


@dataclass(frozen=True)
class Family(abc.ABC):
    """Outcome distribution, link and the columns that feed it.

    ``offset`` enters the linear predictor with coefficient one; ``exposure``
    (count families) enters as its log.
    """

    link: str
    offset: str | None = None
    exposure: str | None = None

    name: ClassVar[str]  # for messages and Stata's option names, never for dispatch
    links: ClassVar[tuple[str, ...]]
    titles: ClassVar[dict[str, str]]  # link -> Stata's title of the fit
    base_models: ClassVar[dict[str, str]]  # link -> what the LR test compares against
    default_statistic: ClassVar[str] = "mu"  # what predict and margins give by default
    may_separate: ClassVar[bool] = False  # coefficients can run off to infinity
    allows_exposure: ClassVar[bool] = False
    pr_outcome: ClassVar[str] = "success"  # what pr gives: "success", "count" or "category"
    has_mean: ClassVar[bool] = True  # False: predict probabilities, not a mean
    has_cutpoints: ClassVar[bool] = False  # they stand in for the constant
    options: ClassVar[tuple[str, ...]] = ()  # family-specific fields (trials, dispersion)
    residual_variance_aux: ClassVar[bool] = False  # the aux is σ²_e, a variance component
    exact_laplace: ClassVar[bool] = False  # Gaussian in u: Laplace is the exact integral
    statistics: ClassVar[tuple[str, ...]] = ()  # predict statistics of its own (e, ystar, surv)
    statistics_at_outcome: ClassVar[tuple[str, ...]] = ()  # those read at the row's outcome
    depvars: ClassVar[int] = 1  # dependent variables of its Stata command (0: from stset)
    depvar_fields: ClassVar[tuple[str, ...]] = ()  # fields the depvars after the first fill
    uses_stset: ClassVar[bool] = False  # time, failure and entry come from stset

    def __post_init__(self):
        if self.link not in self.links:
            raise SpecError(f"link {self.link!r} is not available for the {self.name} family; "
                            f"use {' or '.join(self.links)}")
        if self.offset is not None and self.exposure is not None:
            raise SpecError("offset() and exposure() cannot be combined")
        if self.exposure is not None and not self.allows_exposure:
            raise SpecError("exposure() applies to Poisson and negative binomial models")

    # ---- description ------------------------------------------------------------------
    @property
    def title(self) -> str:
        return self.titles[self.link]

    @property
    def base_model(self) -> str:
        return self.base_models[self.link]

    def columns(self) -> set[str]:
        """Data columns the family reads (besides the response)."""
        return {n for n in (self.offset, self.exposure) if n}

    # ---- host-side rows -----------------------------------------------------------------
    def offset_values(self, frame) -> np.ndarray:
        """The offset, or log exposure, of every row (zeros without either)."""
        for name, what in ((self.offset, "offset"), (self.exposure, "exposure")):
            if name and not frame.numeric[name]:
                raise DataError(f"{what} variable {name!r} must be numeric")
        if self.offset:
            return frame.values(self.offset).copy()
        if self.exposure:
            exposure = frame.values(self.exposure)
            if np.any(exposure <= 0):
                raise DataError(f"exposure variable {self.exposure!r} must be positive")
            return np.log(exposure)
        return np.zeros(len(frame))

    def trials_values(self, frame, n: int) -> np.ndarray:
        """Binomial trials of every row; ones for every other family."""
        return np.ones(n)

    def given_values(self, frame, n: int) -> dict[str, np.ndarray]:
        """Per-row inputs besides the response, fixed when outcomes are simulated.

        Binomial trials; censoring limits, the other interval bound, failure
        codes and entry times for the censored and survival families. The row
        builder (:meth:`response_rows`), validation and simulation read them.
        """
        return {"trials": self.trials_values(frame, n)}

    def missing_is_data(self, response: str) -> set[str]:
        """Columns whose missing values are data (an open interval bound), not gaps.

        Rows where every one of them is missing carry no information and are
        dropped (and counted) like any incomplete row.
        """
        return set()

    def observed(self, y: np.ndarray) -> np.ndarray:
        """The response as the family reads it (Bernoulli: nonzero is a success)."""
        return y

    @abc.abstractmethod
    def validate(self, y: np.ndarray, given: dict, response: str) -> ResponseRows:
        """Check a fitted response (raising :class:`DataError`) and derive its categories."""

    @abc.abstractmethod
    def response_rows(self, y: np.ndarray, given: dict,
                      categories: tuple = ()) -> tuple[dict, np.ndarray]:
        """Row arrays the traced log density reads, and a mask of the valid entries.

        ``y`` has any shape ending in rows (a (B, n) stack of replicates too);
        invalid entries get harmless values, for the caller to replace or report.
        """

    # ---- aux parameters -----------------------------------------------------------------
    def n_aux(self, n_categories: int = 0) -> int:
        return 0

    def aux_names(self, n_categories: int = 0) -> list[str]:
        """Stata's names of the extra parameters (/cut1 ..., /lnalpha, /lndelta)."""
        return []

    def aux_start(self, data: dict, n_categories: int = 0) -> np.ndarray:
        return np.zeros(self.n_aux(n_categories))

    def dispersion_value(self, reported: np.ndarray) -> float | None:
        """The dispersion (α or δ) from the reported aux values; None without one."""
        return None

    def aux_reported(self, aux):
        """Extra parameters on Stata's reporting scale (traced)."""
        return aux

    # ---- traced --------------------------------------------------------------------------
    @abc.abstractmethod
    def log_density(self, eta, data: dict, aux):
        """log p(y_i | η_i) for every row; ``data`` broadcastable to η."""

    def eta_derivatives(self, eta, data: dict, aux):
        """Per-row log density, score ∂ℓ/∂η and curvature ∂²ℓ/∂η² (autodiff)."""
        return eta_derivatives_autodiff(self, eta, data, aux)

    def row_values(self, data: dict, aux) -> dict:
        """Row arrays made from the aux parameters, which the densities read when present.

        An integrator evaluates the density at every Newton step and quadrature node;
        computed once per likelihood (:func:`mejax.models.density.bind_rows`) they enter
        its program, and its derivative, once. None by default.
        """
        return {}

    # ---- statistics for predict and margins -----------------------------------------------
    def mean(self, eta, trials, aux, var=None):
        """E[y | η]; with ``var`` averaged over η + N(0, var) (the population average)."""
        raise SpecError(f"the mean is not defined for {self.name} outcomes; predict "
                        "probabilities")

    @abc.abstractmethod
    def probability(self, eta, aux, var=None, outcome=None):
        """P(y = 1), P(y = outcome) or every category's probability (..., K), given η."""

    def variance(self, mu, trials, aux) -> np.ndarray:
        """Var(y | η) at the mean ``mu`` (host), for Pearson residuals."""
        raise SpecError(f"residuals are not available after {self.name} models")

    def deviance(self, y, mu, trials, aux) -> np.ndarray:
        """Per-row deviance 2[ℓ(y; y) − ℓ(y; μ)] (host), for deviance residuals."""
        raise SpecError(f"residuals are not available after {self.name} models")

    def latent_variance(self) -> float:
        """Variance of the latent residual on the linear-predictor scale (for ICCs)."""
        raise SpecError("estat icc is available after logit and probit models (melogit, "
                        "meprobit, meologit, meoprobit); this model is "
                        f"{self.name} with a {self.link} link")

    @abc.abstractmethod
    def simulate(self, rng: np.random.Generator, eta: np.ndarray, given: dict,
                 aux: np.ndarray, categories: tuple = ()) -> np.ndarray:
        """Outcomes drawn given η (host); ``aux`` on the reporting scale."""

    # ---- what results show ------------------------------------------------------------------
    def preamble(self) -> list[str]:
        """Lines above the title (survival: the failure and analysis-time variables)."""
        return []

    def header_rows(self, data: dict) -> list[tuple[str, str, str]]:
        """(left text, right name, right value) lines under Number of obs (censoring counts)."""
        return []

    def response_label(self, response: str) -> str:
        """How the coefficient table names the outcome (survival: ``_t``)."""
        return response

    def residual_label(self, response: str) -> str:
        """Stata's label of a residual variance aux (``residual_variance_aux`` families)."""
        return "var(Residual)"

    def derived_aux_names(self, response: str, n_categories: int = 0) -> list[str]:
        """Transformed extra parameters shown under them (Weibull p and 1/p, lognormal sigma)."""
        return []

    def derived_aux(self, reported):
        """Values of :meth:`derived_aux_names` from the reported aux values (traced, positive)."""
        return jnp.zeros(0)

    def default_eform(self, options: dict) -> str | None:
        """The exponentiated-coefficient label the command shows by default (hazard ratios)."""
        return None

    # ---- extra predict statistics -------------------------------------------------------------
    def statistic(self, kind: str, eta, given: dict, aux, var=None, bounds=None):
        """Value of one of :attr:`statistics` per row given η (``var``: averaged over it)."""
        raise SpecError(f"predict, {kind} is not available after {self.name} models")


def eta_derivatives_autodiff(family: Family, eta, data: dict, aux):
    """:meth:`Family.eta_derivatives` by autodiff of the log density (the tests' oracle)."""
    def total(e):
        return jnp.sum(family.log_density(e, data, aux))

    ll = family.log_density(eta, data, aux)
    d1, d2 = jax.jvp(jax.grad(total), (eta,), (jnp.ones_like(eta),))
    return ll, d1, d2
