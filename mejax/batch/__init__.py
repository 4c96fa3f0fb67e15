"""Batch fits: one model structure fitted to many responses or data sets in compiled calls.

See :func:`mejax.batch.api.fit_batch`. Model kinds plug in through
:func:`mejax.batch.kinds.register_kind`; the linear mixed model's is in
:mod:`mejax.batch.lmm`.
"""

from . import glmm, lmm  # noqa: F401  (register the GLMM's and the linear model's kinds)
from .api import fit_batch
from .kinds import BatchKind, register_kind
from .result import STATUS, BatchResult

__all__ = ["fit_batch", "BatchResult", "BatchKind", "register_kind", "STATUS"]
