"""NUTS with Stan's window adaptation (blackjax), every chain vmapped in one compiled call.

Warm-up is one call; the draws follow in chunks of one compiled call each, so
a progress bar can move between them and the same program serves every chunk.
Each kept draw records the position (β, covariance parameters, aux, the
non-centred effects u), its log likelihood, whether the transition diverged,
its acceptance rate and tree size.
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
from tqdm.auto import tqdm

from .model import BayesModel
from .posterior import log_likelihood_rows, log_posterior

STEPS_PER_CHUNK = 1000  # NUTS transitions per chain in one compiled call of the draws


@dataclass(frozen=True)
class Settings:
    """How to sample: chains, kept draws per chain, warm-up steps, thinning, seed."""

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    thinning: int = 1
    seed: int = 0
    target_accept: float = 0.8
    max_tree_depth: int = 10


def _logdensity(model: BayesModel, arrays):
    return lambda position: log_posterior(position, arrays, model)


@partial(jax.jit, static_argnames=("model", "settings"))
def warm_up(keys, positions, arrays, model: BayesModel, settings: Settings):
    """Window adaptation of every chain (vmapped): final states, step sizes and mass matrices."""
    logdensity = _logdensity(model, arrays)

    def one(key, position):
        adapt = blackjax.window_adaptation(
            blackjax.nuts, logdensity, target_acceptance_rate=settings.target_accept,
            adaptation_info_fn=get_filter_adapt_info_fn(),
            max_num_doublings=settings.max_tree_depth)
        (state, params), _ = adapt.run(key, position, num_steps=settings.warmup)
        return state, params["step_size"], params["inverse_mass_matrix"]

    return jax.vmap(one)(keys, positions)


@partial(jax.jit, static_argnames=("model", "settings", "n_draws"))
def draw_chunk(keys, states, step_sizes, inverse_mass, arrays, model: BayesModel,
               settings: Settings, n_draws: int):
    """``n_draws`` kept draws of every chain (vmapped), ``thinning`` transitions each."""
    logdensity = _logdensity(model, arrays)

    def one(key, state, step_size, imm):
        kernel = blackjax.nuts(logdensity, step_size, imm,
                               max_num_doublings=settings.max_tree_depth)

        def transition(carry, key):
            state, _ = carry
            state, info = kernel.step(key, state)
            return (state, info), None

        def keep(state, key):
            first = kernel.step(jax.random.fold_in(key, 0), state)
            keys = jax.random.split(key, settings.thinning - 1) if settings.thinning > 1 else None
            if keys is None:
                state, info = first
            else:
                (state, info), _ = jax.lax.scan(transition, first, keys)
            loglik = jnp.sum(log_likelihood_rows(state.position, arrays, model))
            record = {"position": state.position, "loglik": loglik,
                      "divergent": info.is_divergent, "accept": info.acceptance_rate,
                      "steps": info.num_integration_steps, "depth": info.num_trajectory_expansions}
            return state, record

        return jax.lax.scan(keep, state, jax.random.split(key, n_draws))

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
    k_warm, k_draw = jax.random.split(key)
    positions = jittered_starts(start, settings.chains, rng)
    arrays = jax.tree.map(jnp.asarray, arrays)
    t0 = time.perf_counter()
    states, step_sizes, imm = warm_up(jax.random.split(k_warm, settings.chains), positions,
                                      arrays, model, settings)
    jax.block_until_ready(states)
    warmup_s = time.perf_counter() - t0
    per_chunk = max(1, min(settings.draws, STEPS_PER_CHUNK // settings.thinning))
    n_chunks = math.ceil(settings.draws / per_chunk)
    show = (n_chunks > 2) if progress is None else progress
    records = []
    t1 = time.perf_counter()
    for i in tqdm(range(n_chunks), desc="MCMC draws", unit="chunk", disable=not show):
        keys = jax.random.split(jax.random.fold_in(k_draw, i), settings.chains)
        states, rec = draw_chunk(keys, states, step_sizes, imm, arrays, model, settings,
                                 per_chunk)
        records.append(jax.tree.map(np.asarray, rec))
    sampling_s = time.perf_counter() - t1
    stacked = jax.tree.map(lambda *r: np.concatenate(r, axis=1)[:, : settings.draws], *records)
    info = {"warmup_s": warmup_s, "sampling_s": sampling_s,
            "step_size": np.asarray(step_sizes), "chunks": n_chunks}
    return stacked, info
