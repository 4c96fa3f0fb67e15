"""NUTS with Stan's window adaptation (blackjax), every chain vmapped in one compiled call.

Warm-up and the first draws are one compiled call; long runs continue in
chunks of one compiled call each (the same program for every chunk), so a
progress bar can move between them.
NUTS moves one flat vector (the sampling-scale position raveled: β's coordinates,
covariance parameters, aux, effects), unravelled for the log density and the records.
Each kept draw records the position (β, covariance parameters, aux, the
non-centred effects u), its log likelihood, whether the transition diverged,
its acceptance rate and tree size.

The coefficients are sampled as θ = M⁻¹β with M from the QR decomposition of
X (:func:`mejax.bayes.model.beta_map`): a linear map with a constant Jacobian,
so the posterior is the same, but θ's posterior is close to uncorrelated
whatever the scaling and collinearity of X, which a diagonal mass matrix
cannot undo by itself (epilepsy: a quarter of the leapfrog steps per draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.base import get_filter_adapt_info_fn
from jax.flatten_util import ravel_pytree

from ..fit.programs import OPTIMISED
from ..text import progress_bar
from .model import BayesModel
from .posterior import log_likelihood, log_posterior

STEPS_PER_CHUNK = 1000  # NUTS transitions per chain in one compiled call of the draws


@dataclass(frozen=True)
class Kernel:
    """The static sampler settings of one compiled program: another seed reuses it."""

    warmup: int = 1000
    thinning: int = 1
    target_accept: float = 0.8
    max_tree_depth: int = 10


@dataclass(frozen=True)
class Settings(Kernel):
    """How to sample: the kernel's settings plus chains, kept draws per chain and seed."""

    chains: int = 4
    draws: int = 1000
    seed: int = 0

    @property
    def kernel(self) -> Kernel:
        """The part that shapes the compiled program (not the seed, chains or draws)."""
        return Kernel(self.warmup, self.thinning, self.target_accept, self.max_tree_depth)


def to_position(sampled, arrays):
    """The model's position from the sampler's: β = M θ (``arrays["beta_map"]``, a QR map)."""
    return {**sampled, "beta": arrays["beta_map"] @ sampled["beta"]}


def to_sampled(position, arrays):
    """The sampler's position θ = M⁻¹ β from the model's."""
    return {**position, "beta": jnp.linalg.solve(arrays["beta_map"], position["beta"])}


def _logdensity(model: BayesModel, arrays, unravel):
    """The log posterior of the sampler's flat vector (up to the constant log |det M|).

    One vector rather than the position's pytree: every NUTS operation is one kernel
    instead of one per leaf, which dominates the cost of a small model's leapfrog step.
    """
    return lambda flat: log_posterior(to_position(unravel(flat), arrays), arrays, model)


def _adapt(key, position, logdensity, settings: Kernel):
    """Window adaptation of one chain: its final state, step size and inverse mass matrix."""
    adapt = blackjax.window_adaptation(
        blackjax.nuts, logdensity, target_acceptance_rate=settings.target_accept,
        adaptation_info_fn=get_filter_adapt_info_fn(),
        max_num_doublings=settings.max_tree_depth)
    (state, params), _ = adapt.run(key, position, num_steps=settings.warmup)
    return state, params["step_size"], params["inverse_mass_matrix"]


def _draws(key, state, step_size, imm, logdensity, unravel, arrays, model: BayesModel,
           settings: Kernel, n_draws: int):
    """``n_draws`` kept draws of one chain, ``thinning`` NUTS transitions each."""
    kernel = blackjax.nuts(logdensity, step_size, imm, max_num_doublings=settings.max_tree_depth)

    def keep(state, key):
        info = None
        for i in range(settings.thinning):
            state, info = kernel.step(jax.random.fold_in(key, i), state)
        position = to_position(unravel(state.position), arrays)
        loglik = log_likelihood(position, arrays, model)
        return state, {"position": position, "loglik": loglik,
                       "divergent": info.is_divergent, "accept": info.acceptance_rate,
                       "steps": info.num_integration_steps,
                       "depth": info.num_trajectory_expansions}

    return jax.lax.scan(keep, state, jax.random.split(key, n_draws))


@partial(jax.jit, static_argnames=("model", "settings", "n_draws"), compiler_options=OPTIMISED)
def warm_up_and_draw(keys, positions, arrays, model: BayesModel, settings: Kernel,
                     n_draws: int):
    """Adapt every chain, then its first ``n_draws`` draws: one compiled call, chains vmapped."""
    def one(key, position):
        k_warm, k_draw = jax.random.split(key)
        flat, unravel = ravel_pytree(to_sampled(position, arrays))
        logdensity = _logdensity(model, arrays, unravel)
        state, step_size, imm = _adapt(k_warm, flat, logdensity, settings)
        state, records = _draws(k_draw, state, step_size, imm, logdensity, unravel, arrays,
                                model, settings, n_draws)
        return state, step_size, imm, records

    return jax.vmap(one)(keys, positions)


@partial(jax.jit, static_argnames=("model", "settings", "n_draws"), compiler_options=OPTIMISED)
def draw_chunk(keys, states, step_sizes, inverse_mass, template, arrays, model: BayesModel,
               settings: Kernel, n_draws: int):
    """``n_draws`` more draws of every chain (vmapped): the later chunks of a long run.

    ``template`` is one sampler position (a pytree): the layout of the flat states.
    """
    unravel = ravel_pytree(template)[1]
    logdensity = _logdensity(model, arrays, unravel)

    def one(key, state, step_size, imm):
        return _draws(key, state, step_size, imm, logdensity, unravel, arrays, model,
                      settings, n_draws)

    return jax.vmap(one)(keys, states, step_sizes, inverse_mass)


def jittered_starts(start: dict, chains: int, rng: np.random.Generator) -> dict:
    """One start per chain: the central start plus uniform(−0.5, 0.5) noise on every value."""
    def jitter(value):
        value = np.asarray(value, float)
        return value[None] + rng.uniform(-0.5, 0.5, (chains, *value.shape))
    return jax.tree.map(jitter, start)


def run(model: BayesModel, arrays: dict, start: dict, settings: Settings,
        progress: bool | None = None) -> tuple[dict, dict]:
    """Sample: (records stacked as (chains, draws, ...), timings and adaptation results)."""
    import time

    rng = np.random.default_rng(settings.seed)
    key = jax.random.key(settings.seed)
    positions = jittered_starts(start, settings.chains, rng)
    arrays = jax.tree.map(jnp.asarray, arrays)
    # one call adapts and draws when the run is short; long runs continue in chunks
    per_chunk = max(1, min(settings.draws, STEPS_PER_CHUNK // settings.thinning))
    n_chunks = math.ceil(settings.draws / per_chunk)
    show = (n_chunks > 2) if progress is None else progress
    t0 = time.perf_counter()
    keys = jax.random.split(key, settings.chains)
    kernel = settings.kernel  # static: another seed or draw count reuses the program
    states, step_sizes, imm, first = warm_up_and_draw(keys, positions, arrays, model, kernel,
                                                      per_chunk)
    records = [jax.tree.map(np.asarray, first)]
    template = jax.tree.map(lambda a: a[0, 0], first["position"])  # one chain's, one draw
    first_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    for i in progress_bar(range(1, n_chunks), desc="MCMC draws", unit="chunk",
                          disable=not show):
        keys = jax.random.split(jax.random.fold_in(key, i), settings.chains)
        states, rec = draw_chunk(keys, states, step_sizes, imm, template, arrays, model,
                                 kernel, per_chunk)
        records.append(jax.tree.map(np.asarray, rec))
    more_s = time.perf_counter() - t1
    stacked = jax.tree.map(lambda *r: np.concatenate(r, axis=1)[:, : settings.draws], *records)
    info = {"first_call_s": first_s, "later_calls_s": more_s,
            "step_size": np.asarray(step_sizes), "chunks": n_chunks}
    return stacked, info
