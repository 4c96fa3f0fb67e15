"""The BFGS of :mod:`.host_bfgs` as one XLA loop, for a model fitted again and again.

A first fit steps from the host over one compiled value-and-gradient: the least to
compile. Each step then costs a dispatch and a transfer, which a process fitting the
same model many times (a simulation, a loop over subsets) pays on every evaluation;
there the same iterations run inside one compiled call instead. Same start, steps,
line search and stopping rules, so both give the same estimates (to rounding), and a
fit's numbers do not depend on how many fits came before it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .host_bfgs import ARMIJO, BACKTRACKS, CURVATURE_FLOOR
from .optimize import ATOL, GAIN_TOL, HISTORY, RTOL


def _objective(value_and_grad: Callable, params0, transform, nobs):
    """f(q) = −log L(params0 + T q)/n and its gradient, non-finite values as +inf."""
    def evaluate(q):
        value, grad = value_and_grad(params0 + transform @ q)
        f = -value / nobs
        g = -(transform.T @ grad) / nobs
        bad = ~jnp.isfinite(f) | ~jnp.all(jnp.isfinite(g))
        return jnp.where(bad, jnp.inf, f), g

    return evaluate


def _updated(h, s, y, first):
    """:func:`.host_bfgs._updated`: the inverse-Hessian update, skipped unless y's > 0."""
    ys = y @ s
    eye = jnp.eye(h.shape[0])
    h0 = jnp.where(first, (ys / (y @ y)) * eye, h)
    rho = 1.0 / ys
    left = eye - rho * jnp.outer(s, y)
    new = left @ h0 @ left.T + rho * jnp.outer(s, s)
    keep = ~(ys > CURVATURE_FLOOR * jnp.linalg.norm(y) * jnp.linalg.norm(s))
    return jnp.where(keep, h, new)


def _backtrack(evaluate, q, f, g, direction, slope):
    """:func:`.host_bfgs._backtrack`: (found, q, f, g) of the first step with Armijo's
    decrease; not found once a shortened step is below the tolerances, or after
    :data:`~.host_bfgs.BACKTRACKS` halvings."""
    def cond(state):
        i, _, found, stop, *_ = state
        return (i < BACKTRACKS) & ~found & ~stop

    def body(state):
        i, step, _, _, q_new, f_new, g_new = state
        tiny = (step < 1.0) & jnp.all(jnp.abs(step * direction) <= ATOL + RTOL * jnp.abs(q))
        trial = q + step * direction

        def try_step(_):
            f_try, g_try = evaluate(trial)
            return f_try <= f + ARMIJO * step * slope, trial, f_try, g_try

        found, q_try, f_try, g_try = jax.lax.cond(
            tiny, lambda _: (jnp.array(False), q_new, f_new, g_new), try_step, None)
        return i + 1, step * 0.5, found, tiny, q_try, f_try, g_try

    start = (0, jnp.array(1.0), jnp.array(False), jnp.array(False), q, f, g)
    _, _, found, _, q_new, f_new, g_new = jax.lax.while_loop(cond, body, start)
    return found, q_new, f_new, g_new


def minimise(value_and_grad: Callable, params0, transform, nobs, max_steps: int = 500) -> dict:
    """:func:`.host_bfgs.minimise` traced: the same outputs, as arrays.

    ``iterations`` is a buffer of :data:`~.optimize.HISTORY` log likelihoods, NaN past
    the accepted steps (the host keeps the last ones of a longer run; this the first).
    """
    size = params0.shape[0]
    evaluate = _objective(value_and_grad, params0, transform, nobs)
    q0 = jnp.zeros(size)
    f0, g0 = evaluate(q0)
    eye = jnp.eye(size)

    def gain(g, h):
        return 0.25 * nobs * jnp.abs(g @ h @ g)

    def cond(state):
        steps, done = state[0], state[1]
        return ~done & (steps < max_steps)

    def body(state):
        steps, _, success, settled, q, f, g, h, history = state
        steps = steps + 1
        converged = settled & (gain(g, h) < GAIN_TOL)

        def step(_):
            direction = -h @ g
            slope = g @ direction
            restart = slope >= 0  # not a descent direction: steepest descent
            h_used = jnp.where(restart, eye, h)
            direction = jnp.where(restart, -g, direction)
            slope = jnp.where(restart, -(g @ g), slope)
            found, q_new, f_new, g_new = _backtrack(evaluate, q, f, g, direction, slope)
            s, y = q_new - q, g_new - g
            moved = jnp.all(jnp.abs(s) <= ATOL + RTOL * jnp.abs(q_new))
            h_new = _updated(h_used, s, y, steps == 1)
            history_new = history.at[jnp.minimum(steps - 1, HISTORY - 1)].set(-f_new * nobs)
            return (steps, ~found, ~found, jnp.where(found, moved, settled),
                    jnp.where(found, q_new, q), jnp.where(found, f_new, f),
                    jnp.where(found, g_new, g), jnp.where(found, h_new, h_used),
                    jnp.where(found, history_new, history))

        def stop(_):
            return steps, jnp.array(True), jnp.array(True), settled, q, f, g, h, history

        return jax.lax.cond(converged, stop, step, None)

    history0 = jnp.full(HISTORY, jnp.nan)
    start = (0, ~jnp.isfinite(f0), jnp.array(False), jnp.array(False), q0, f0, g0, eye,
             history0)
    steps, _, success, _, q, f, g, h, history = jax.lax.while_loop(cond, body, start)
    grad_q = jnp.where(jnp.all(jnp.isfinite(g)), g, jnp.nan)
    return {
        "params": params0 + transform @ q,
        "success": success,
        "steps": steps,
        "grad": jnp.linalg.solve(transform.T, grad_q),
        "gain": gain(grad_q, h),
        "loglik": -f * nobs,
        "loglik0": -f0 * nobs,
        "iterations": history,
    }
