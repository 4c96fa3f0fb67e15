"""Bayesian multilevel models: NUTS over the model's own joint log density.

The posterior is the density of the design the front ends build (the same one
maximum likelihood fits) with the random effects sampled non-centred, plus
log priors on Stata's named parameters (:mod:`mejax.bayes.layout`); blackjax's
NUTS with Stan's window adaptation samples every chain in one compiled call.

The package is callable: ``mejax.bayes(model, data, ...)`` is
:func:`mejax.bayes_api.bayes` (the front end that reads formulas and Stata
commands, registered with :func:`set_front_end`), while ``mejax.bayes.priors``
and the other modules stay importable.
"""

from __future__ import annotations

import importlib
import sys
import types

from . import priors
from .estimate import sample_design, sample_nonlinear, settings_from
from .result import BayesResult, BayesWarning
from .sampler import Settings

__all__ = ["BayesResult", "BayesWarning", "Settings", "priors", "sample_design", "sample_nonlinear",
           "set_front_end", "settings_from"]


class _CallableModule(types.ModuleType):
    """``mejax.bayes(...)`` calls the front end; the package keeps its submodules.

    The front end (:mod:`mejax.bayes_api`, above this package) registers itself
    with :func:`set_front_end` when mejax is imported.
    """

    front_end = None

    def __call__(self, *args, **kwargs):
        if self.front_end is None:  # imported as mejax.bayes.<module> before mejax.bayes
            importlib.import_module("mejax.bayes_api")  # registers itself
        return self.front_end(*args, **kwargs)


def set_front_end(function) -> None:
    """Make ``mejax.bayes(...)`` call ``function``."""
    sys.modules[__name__].front_end = function


sys.modules[__name__].__class__ = _CallableModule
