"""Validate a stack of responses before anything is traced."""

from __future__ import annotations

import numpy as np

from ..spec.model import DataError


def check_responses(responses, nobs: int, n_dropped: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (B, nobs) float array and the mask of rows with non-finite values.

    ``responses`` is one response (nobs,) or a stack (B, nobs), in the order of
    the model's estimation sample. Raises :class:`DataError` for anything else.
    Rows with NaN or infinite values are not errors: those fits are reported
    with code 2 (non-finite input) and the others go on.
    """
    try:
        y = np.array(responses, dtype=float)
    except (TypeError, ValueError):
        raise DataError("responses must be a numeric array of shape (B, nobs)") from None
    if y.ndim == 1:
        y = y[None, :]
    sample = f"the model's estimation sample has {nobs} observations"
    if n_dropped:
        sample += f" ({n_dropped} row(s) with missing values were dropped from the data)"
    if y.ndim != 2:
        raise DataError(f"responses must be a (B, nobs) array, got shape {y.shape}; {sample}")
    if y.shape[0] == 0:
        raise DataError("responses is empty: no fits to run")
    if y.shape[1] != nobs:
        hint = "; transpose it (responses.T)" if y.shape[0] == nobs else ""
        raise DataError(f"responses have {y.shape[1]} columns but {sample}{hint}")
    bad = ~np.all(np.isfinite(y), axis=1)
    return y, bad


def take_responses(responses, lo: int, hi: int, nobs: int, n_dropped: int = 0):
    """Rows ``lo:hi`` of a response stack, or a response function's chunk, checked."""
    y = responses(lo, hi) if callable(responses) else responses[lo:hi]
    y, bad = check_responses(y, nobs, n_dropped)
    if callable(responses) and y.shape[0] != hi - lo:
        raise DataError(f"the response function gave {y.shape[0]} rows, expected {hi - lo}")
    return y, bad


def count_responses(responses, n: int | None, nobs: int, n_dropped: int = 0):
    """(responses checked as a stack, or the function itself; the number of fits)."""
    if callable(responses):
        if n is None or n < 1:
            raise ValueError("give the number of fits n with a response function")
        return responses, int(n)
    responses, _ = check_responses(responses, nobs, n_dropped)
    return responses, responses.shape[0]
