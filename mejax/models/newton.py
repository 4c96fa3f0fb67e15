"""The one Newton search for conditional modes of random effects (pure, traced).

Every integrator needs the mode of a concave per-cluster objective h(u)
(log density of the data given u plus the log prior of u): the single-level
and crossed engines of :mod:`.glmm`, the nested levels of :mod:`.glmm_nested`,
and any predictor that supplies its own direction. The search is the same:
Newton steps, independently per unit (cluster, subtree, or the whole sample),
a unit whose h would fall taking a quarter of its step, repeatedly, while
some unit needs it; it runs without gradients (the callers differentiate
through a few explicit Newton steps from the mode instead).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

NEWTON_MAX_STEPS = 100
NEWTON_TOL = 1e-10  # on the largest change of any effect
STEP_SHRINK = 0.25  # step-size factor when a Newton step would lower h
MAX_SHRINKS = 8
STEP_SLACK = 1e-12  # relative fall of h taken for rounding (keeps full steps at the mode)


def maximise(start, direction: Callable, values: Callable, step: Callable):
    """The effects maximising h, from ``start`` (any pytree of arrays).

    ``direction(u)`` gives h per unit and the Newton direction; ``values(u)``
    gives h per unit alone (what the step-size search compares); ``step(u,
    delta, alpha)`` moves every unit by its own step size ``alpha`` (shaped as h).
    """
    def largest_change(new, old):
        leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(
            lambda a, b: jnp.max(jnp.abs(a - b)), new, old))
        return jnp.max(jnp.stack(leaves))

    def cond(state):
        _, change, it = state
        return (change > NEWTON_TOL) & (it < NEWTON_MAX_STEPS)

    def body(state):
        u, _, it = state
        h, delta = direction(u)
        slack = STEP_SLACK * (1.0 + jnp.abs(h))

        def worse(h_try):
            return ~(h_try >= h - slack)  # NaN counts as worse

        def shrink(search):
            alpha, h_try, k = search
            alpha = jnp.where(worse(h_try), STEP_SHRINK * alpha, alpha)
            return alpha, values(step(u, delta, alpha)), k + 1

        alpha = jnp.ones_like(h)
        alpha, h_try, _ = jax.lax.while_loop(
            lambda search: jnp.any(worse(search[1])) & (search[2] < MAX_SHRINKS), shrink,
            (alpha, values(step(u, delta, alpha)), 0))
        new = step(u, delta, jnp.where(worse(h_try), 0.0, alpha))
        return new, largest_change(new, u), it + 1

    start = jax.lax.stop_gradient(start)
    u, _, _ = jax.lax.while_loop(cond, body, (start, jnp.asarray(jnp.inf, jnp.result_type(
        *jax.tree_util.tree_leaves(start))), 0))
    return u
