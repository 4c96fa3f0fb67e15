"""Predicted random effects as post-estimation reads them, whatever model made them.

A result answers ``random_effects()`` with a :class:`RandomEffects`: the BLUPs
of a linear model (:mod:`mejax.inference.blups`) or the empirical Bayes means
or modes of a GLMM (:mod:`mejax.inference.eb_effects`). Tables (``ranef``),
predictions and the Stata ``predict`` command read only this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
