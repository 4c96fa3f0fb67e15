"""What a fit driver tells its result: one frozen report for every model.

The one result type (:class:`mejax.results.fit_result.FitResult`) reads every
estimate, covariance, title and note from a :class:`FitReport`; what differs
between the linear preset (:mod:`.lmm_report`) and the generalized models
(:mod:`.glmm_report`) is in the values the driver puts here, not in a subclass.
Covariances are costly (finite differences of the fit's program), so they come
from a zero-argument function that the result calls once, when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..families.base import Family
from ..spec.survey import PseudoWeights, SamplingUnits


@dataclass(frozen=True)
class ResidualEstimate:
    """One row of the residual part of the variance components, with its standard errors.

    ``structure`` is None for the one residual variance σ²_e; otherwise the
    title of a residual structure whose parameter ``name`` is on ``scale``.
    """

    estimate: float
    std_err: float
    phi: float  # Stata's scale (log sd, atanh ρ, ...) and its standard error
    phi_se: float
    label: str | None = None  # the row's label when not var(e)
    structure: str | None = None
    name: str = "var(e)"
    scale: str = "log"
    by: str | None = None


@dataclass(frozen=True)
class Uncertainty:
    """Covariances of the reported estimates: what every standard error is read from.

    ``entries``/``phi`` are the random-effect terms' variance entries (block
    order) and their Stata parameters; ``aux`` the family's extra parameters on
    Stata's scale. ``params_vcov``, ``information`` and ``jacobians`` (of
    entries, φ and aux in the parameters) exist where the fit has all its
    parameters on one optimisation scale (None for the profiled linear model).
    """

    entries: np.ndarray
    entries_cov: np.ndarray
    phi: np.ndarray
    phi_cov: np.ndarray
    residual: tuple[ResidualEstimate, ...] = ()
    aux: np.ndarray = field(default_factory=lambda: np.zeros(0))
    aux_cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    params_vcov: np.ndarray | None = None
    information: np.ndarray | None = None
    jacobians: tuple[np.ndarray, ...] | None = None
    values: tuple[np.ndarray, ...] | None = None


class FitReport(NamedTuple):
    """Estimates, diagnostics and descriptions of one fit, as its driver made them.

    Immutable; a named tuple rather than a frozen dataclass because every fit makes
    one, and a frozen dataclass of this many fields costs tens of microseconds to
    build (a warm linear fit takes about two milliseconds).
    """

    name: str  # the result's name in its repr (MixedResult, GlmmResult)
    description: str  # what the repr says the fit is ("REML", "... (mvaghermite)")
    method: str  # ML, REML, or the integration method in Stata's words
    family: Family  # the outcome's distribution (Gaussian identity for ``mixed``)
    model: object  # the compiled programs' static structure (LmmStructure, GlmmStructure)
    arrays: dict  # the compiled programs' inputs, for post-estimation
    outputs: dict  # everything else the driver returned, for engine-specific post-estimation
    converged: bool
    loglik: float
    reml: bool
    beta: np.ndarray
    theta: np.ndarray  # the covariance parameters on the optimisation scale
    params: np.ndarray  # all estimates, optimisation scale: β, θ, then residual/family ones
    n_params: int
    sigma2: float  # the scale a variance is judged zero against (σ²_e; 1: the latent scale)
    order: list[int]  # random-effect terms in the fit's block order
    entries: Callable[[], np.ndarray]  # point estimates of the terms' variance entries
    fixef_vcov: Callable[[], np.ndarray]  # Var(β̂), before small-sample adjustments
    uncertainty: Callable[[], Uncertainty]
    base_loglik: Callable[[], float]  # the model without random effects (the LR test's)
    lr_df: int  # variance parameters the LR test sets to zero
    lr_versus: str | None = None  # what the LR test's note says it compares against
    title: str | None = None  # Stata's title (None: "Mixed-effects ML/REML regression")
    response_label: str = ""  # how the coefficient table names the outcome (``_t``)
    preamble: tuple[str, ...] = ()  # lines above the title (survival's stset settings)
    header_rows: tuple[tuple[str, str, str], ...] = ()  # lines under Number of obs
    aux_names: tuple[str, ...] = ()  # the family's parameters in the table (/cut1, /lnalpha)
    derived_aux_names: tuple[str, ...] = ()  # their transforms shown under them (p, 1/p)
    integration: str | None = None  # the integration method actually used
    nodes: int | None = None
    shows_integration: bool = False  # Stata's "Integration method" line
    notes: tuple[str, ...] = ()  # the fit's own notes, above the common ones
    iterations: tuple[float, ...] = ()
    weights: PseudoWeights | None = None
    sampling: SamplingUnits | None = None
