"""Batch fits: one model structure fitted to many responses or data sets in compiled calls.

See :func:`mejax.batch.api.fit_batch`. Model kinds plug in through
:func:`mejax.batch.kinds.register_kind`; the linear mixed model's is in
:mod:`mejax.batch.lmm`.
"""

from . import lmm  # noqa: F401  (registers the linear mixed model's kind)
from .api import fit_batch
from .kinds import BatchKind, register_kind
from .result import STATUS, BatchResult

__all__ = ["fit_batch", "BatchResult", "BatchKind", "register_kind", "STATUS"]
