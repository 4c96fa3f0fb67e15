"""``GlmmResult``, the name the ``me*`` commands' results had: the one result type.

:class:`~.fit_result.FitResult` is every mixed model's result; a GLMM's report
(:mod:`mejax.fit.glmm_report`) carries its integration, family parameters and
notes. Importing this module registers the GLMM's empirical Bayes effects and
batch kind, which a linear model never loads.
"""

from __future__ import annotations

from ..batch import glmm  # noqa: F401 (registers the GLMM's batch kind)
from ..inference import eb_effects  # noqa: F401 (registers the GLMM's Predictive)
from .fit_result import FitResult

GlmmResult = FitResult

__all__ = ["GlmmResult"]
