"""optimistix's BFGS with one more stopping rule: a negligible expected log-likelihood gain.

Its own module so that optimistix loads only when a fit is traced (:mod:`mejax.fit.optimize`).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import optimistix as optx

from .optimize import ATOL, GAIN_TOL, HISTORY, RTOL, expected_gain


class DelegatingMinimiser(optx.AbstractMinimiser):
    """A minimiser that wraps another and reports its tolerances and norm.

    The wrappers below change the stopping rule or the state, never the steps; this
    base holds what they would otherwise each repeat.
    """

    inner: eqx.AbstractVar[optx.AbstractMinimiser]

    @property
    def rtol(self):
        return self.inner.rtol

    @property
    def atol(self):
        return self.inner.atol

    @property
    def norm(self):
        return self.inner.norm


class GainBFGS(DelegatingMinimiser):
    """optimistix BFGS that also requires a negligible expected gain before it stops.

    A wrapper, not a subclass: every step is BFGS's own; only the stopping rule adds
    the expected log-likelihood gain (:func:`expected_gain`, needs ``args["nobs"]``).
    """

    inner: optx.BFGS

    def __init__(self, rtol: float = RTOL, atol: float = ATOL):
        self.inner = optx.BFGS(rtol=rtol, atol=atol)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        return self.inner.init(fn, y, args, options, f_struct, aux_struct, tags)

    def step(self, fn, y, args, options, state, tags):
        return self.inner.step(fn, y, args, options, state, tags)

    def terminate(self, fn, y, args, options, state, tags):
        done, result = self.inner.terminate(fn, y, args, options, state, tags)
        small = expected_gain(state, args["nobs"]) < GAIN_TOL
        failed = result != optx.RESULTS.successful
        return done & (small | failed), result

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return self.inner.postprocess(fn, y, aux, args, options, state, tags, result)


class LoggedBFGS(DelegatingMinimiser):
    """:class:`GainBFGS` that also keeps the objective at each accepted iteration.

    Its state is (BFGS's state, history): a fixed-size buffer written in the loop,
    so the fit stays one pure compiled call; Stata's iteration log is read from it.
    """

    inner: GainBFGS

    def __init__(self, rtol: float = RTOL, atol: float = ATOL):
        self.inner = GainBFGS(rtol=rtol, atol=atol)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        state = self.inner.init(fn, y, args, options, f_struct, aux_struct, tags)
        return state, jnp.full(HISTORY, jnp.nan)

    def step(self, fn, y, args, options, state, tags):
        inner, history = state
        y, inner, aux = self.inner.step(fn, y, args, options, inner, tags)
        k = jnp.clip(inner.num_accepted_steps - 1, 0, HISTORY - 1)  # iteration 0: the start
        return y, (inner, history.at[k].set(inner.f_info.f)), aux

    def terminate(self, fn, y, args, options, state, tags):
        return self.inner.terminate(fn, y, args, options, state[0], tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return self.inner.postprocess(fn, y, aux, args, options, state[0], tags, result)
