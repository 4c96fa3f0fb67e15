"""Observed information by central differences of an exact gradient, traced or on the host.

The gradient is exact (autodiff), so central differences err by O(h²) ≈ 1e-8
relative. Compiling one gradient costs a fraction of a forward-over-reverse
Hessian; on the host, the differences reuse the gradient program the optimiser
already compiled, so the standard errors compile nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

FD_STEP = 1e-4  # relative step of the central differences


def difference_steps(params, units, xp=jnp):
    """One step per parameter: relative to its size, never below its unit (fit/units.py).

    A slope of 1e-8 per unit of an x in the 1e8s gets a step of 1e-12, not 1e-4.
    """
    return FD_STEP * xp.maximum(units, xp.abs(params))


def symmetric_information(grads_plus, grads_minus, steps):
    """−∇²f from the gradients at x ± h_i e_i (rows), symmetrised."""
    hess = (grads_plus - grads_minus) / (2.0 * steps[:, None])
    return -0.5 * (hess + hess.T)


def central_slopes(values_plus, values_minus, steps):
    """d value / dx from the values at x ± h_i e_i (stacked on the first axis): (..., P)."""
    slopes = (values_plus - values_minus) / (2.0 * steps.reshape((-1,) + (1,) * (
        values_plus.ndim - 1)))
    return np.moveaxis(slopes, 0, -1)


def traced_information(gradient: Callable, params, units, batch: int | None = None):
    """−∇²f inside a compiled program: all 2P shifted gradients vmapped (``batch`` at a time)."""
    steps = difference_steps(params, units)
    shifts = jnp.concatenate([jnp.diag(steps), -jnp.diag(steps)])

    def shifted(d):
        return gradient(params + d)

    grads = (jax.vmap(shifted)(shifts) if batch is None
             else jax.lax.map(shifted, shifts, batch_size=batch))
    n = params.shape[0]
    return symmetric_information(grads[:n], grads[n:], steps)


def central_evaluations(evaluate: Callable, params: np.ndarray, units: np.ndarray):
    """The steps h and ``evaluate`` at params + h_i e_i and at params − h_i e_i (host calls
    of a compiled program): what the information and the slopes are differenced from."""
    params = np.asarray(params, dtype=float)
    steps = difference_steps(params, units, np)
    eye = np.diag(steps)
    return (steps, [evaluate(params + e) for e in eye], [evaluate(params - e) for e in eye])


def host_information(gradient: Callable, params: np.ndarray, units: np.ndarray,
                     central: bool = True) -> np.ndarray:
    """−∇²f from calls of an already compiled ``gradient`` (numpy in, numpy out).

    Central differences (2P calls, O(h²)) for standard errors; forward ones
    (P + 1 calls, O(h)) where a rough curvature will do, as for preconditioning.
    """
    if central:
        steps, plus, minus = central_evaluations(gradient, params, units)
        return symmetric_information(np.stack(plus), np.stack(minus), steps)
    params = np.asarray(params, dtype=float)
    steps = difference_steps(params, units, np)
    plus = np.stack([gradient(params + e) for e in np.diag(steps)])
    at = np.asarray(gradient(params))
    hess = (plus - at) / steps[:, None]
    return -0.5 * (hess + hess.T)
