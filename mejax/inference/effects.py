"""Predicted random effects as post-estimation reads them, whatever model made them.

A result's :class:`Predictive` answers ``random_effects()`` with a
:class:`RandomEffects`: the BLUPs of a linear model (:mod:`mejax.inference.blups`)
or the empirical Bayes means or modes of a GLMM (:mod:`mejax.inference.eb_effects`),
and the few other things that differ between them. Tables (``ranef``),
predictions, margins and ICCs read only this.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..families.base import Family
    from ..models.glmm_structure import GlmmStructure


@dataclass
class TermEffects:
    """Predicted effects of one term, levels in code order, and their variances."""

    index: int  # position in design.re_terms
    b: np.ndarray  # (n_levels, k)
    var: np.ndarray  # (n_levels, k, k) posterior, inverse-curvature or BLUP variance
    prior: np.ndarray  # (k, k) covariance Σ of the term's effects (for unseen groups)


@dataclass
class RandomEffects:
    """Every term's predicted effects and what they are ("blups", "ebmeans", "ebmodes")."""

    kind: str
    terms: list[TermEffects]


class Predictive(abc.ABC):
    """What predict, margins and icc ask of a fitted model, written once against this.

    One final subclass per kind of fit: the linear model's (BLUPs from the
    profiled Gaussian, :mod:`mejax.inference.blups`) and the GLMM's (empirical
    Bayes effects from the integrator, :mod:`mejax.inference.eb_effects`). A
    result hands its own out as ``result.predictive``.
    """

    family: Family  # the outcome's family (Gaussian identity after mixed)
    kinds: tuple[str, ...]  # the statistics predict offers
    default_kind: str  # predict's and margins' default statistic

    @abc.abstractmethod
    def random_effects(self, ebmodes: bool = False, nodes: int | None = None,
                       se_type: str | None = None) -> RandomEffects:
        """Every term's predicted effects with their variances."""

    @abc.abstractmethod
    def outcome_rows(self) -> tuple[np.ndarray, dict, np.ndarray]:
        """The estimation sample's offsets, the family's per-row inputs and the outcome."""

    @abc.abstractmethod
    def family_aux(self) -> np.ndarray:
        """The family's extra parameters at the estimates (ln σ_e, cutpoints, ...)."""

    @abc.abstractmethod
    def marginal_variance(self, z: np.ndarray) -> np.ndarray:
        """Var(z_i'b) of each row's random part (``z``: the terms' columns side by side)."""

    @abc.abstractmethod
    def residual_whitener(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """x ↦ R̃^{-1/2}x within residual groups, or None without a residual structure."""

    @abc.abstractmethod
    def estimates(self) -> tuple[np.ndarray, np.ndarray, GlmmStructure | None]:
        """All the estimates a prediction depends on, their covariance, and the structure
        that splits them into β, random-effects and family parameters (None: β alone)."""

    @abc.abstractmethod
    def variances(self) -> tuple[np.ndarray, np.ndarray]:
        """The reported random-effects variance entries (block order), then the level-1
        variance (latent scale after a GLMM), and their covariance."""


_PREDICTIVES: dict[type, Callable] = {}


def register_predictive(model_type: type, make: Callable) -> None:
    """Make ``make(result)`` the :class:`Predictive` of results whose ``model`` is a
    ``model_type`` (the linear preset's BLUPs, a GLMM's empirical Bayes effects)."""
    _PREDICTIVES[model_type] = make


def predictive_for(result) -> Predictive:
    """What predict, margins and icc ask of ``result``, by the structure of its model."""
    for cls in type(result.model).__mro__:
        if cls in _PREDICTIVES:
            return _PREDICTIVES[cls](result)
    raise TypeError(f"predictions are not available for {type(result.model).__name__} models")
