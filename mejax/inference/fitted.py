"""The type post-estimation takes: a fitted model.

The result types (:mod:`mejax.results`) sit above post-estimation and inherit
:class:`FittedModel`, so functions here can check what they were given
without importing the layer above them.
"""

from __future__ import annotations

import abc


class FittedModel(abc.ABC):  # noqa: B024 (a marker: its members are the result type's)
    """A model fitted by mejax (``mejax.mixed``, ``mejax.melogit``, ...)."""
