"""Bayesian multilevel models: NUTS over the model's own joint log density.

The posterior is the density of the design the front ends build (the same one
maximum likelihood fits) with the random effects sampled non-centred, plus
log priors on Stata's named parameters (:mod:`mejax.bayes.layout`); blackjax's
NUTS with Stan's window adaptation samples every chain in one compiled call.
"""

from __future__ import annotations

from . import priors
from .estimate import sample_design, settings_from
from .result import BayesResult, BayesWarning
from .sampler import Settings

__all__ = ["BayesResult", "BayesWarning", "Settings", "priors", "sample_design",
           "settings_from"]
