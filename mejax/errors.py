"""The errors users see: a model they asked for that cannot be read, or data that cannot be used.

They live at the bottom of the package so that every layer (specification,
families, fitting, post-estimation) raises the same two types.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A formula, command line or option that cannot be understood."""


class DataError(ValueError):
    """The data cannot be used for the requested model."""


class FitError(RuntimeError):
    """Post-estimation asked of a fit that failed (its estimates are not finite)."""
