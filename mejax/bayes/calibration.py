"""Simulation-based calibration (Talts et al. 2018), every replication in one compiled call.

Parameters are drawn from their (proper) priors, outcomes from the model given
them; each replicate's posterior is sampled (replicates and chains vmapped
together) and the rank of the true value among the posterior draws is
recorded. A correct sampler of a correct density gives uniform ranks:
:func:`rank_test` applies the chi-square test over equal bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..errors import SpecError
from ..fit.programs import OPTIMISED
from ..spec.design import Design
from .model import BayesModel, build_model, start_position
from .posterior import reported
from .sampler import Kernel, Settings, jittered_starts, warm_up_and_draw


@dataclass
class Calibration:
    """Ranks (replications, parameters) of the truths among ``n_draws`` posterior draws."""

    names: list[str]
    ranks: np.ndarray
    n_draws: int
    truths: np.ndarray
    divergent: np.ndarray  # per replication

    def rank_test(self, bins: int = 10):
        """Per parameter: chi-square statistic and p-value of uniform ranks over ``bins``."""
        edges = np.linspace(0, self.n_draws + 1, bins + 1)
        out = {}
        for j, name in enumerate(self.names):
            counts, _ = np.histogram(self.ranks[:, j], edges)
            out[name] = stats.chisquare(counts)
        return out


def simulate_prior(design: Design, model: BayesModel, arrays: dict, n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(true reported parameters (n, p), outcomes (n, rows)) drawn from the prior model."""
    layout = model.layout
    priors = dict(layout.priors)
    if layout.aux_names:
        raise SpecError("calibration of models with extra family parameters is not supported")
    beta = np.column_stack([priors[c].sample(rng, n) for c in layout.coef_names])
    eta = beta @ arrays["x"].T + arrays["offset"][None]
    truths = [beta]
    for term, z, codes in zip(layout.terms, arrays["z"], arrays["codes"]):
        if term.kind == "unstructured":
            sigma = priors[term.matrix_name].scipy().rvs(size=n, random_state=rng)
            sigma = np.asarray(sigma).reshape(n, term.k, term.k)
            lower = np.linalg.cholesky(sigma)
            rows, cols = np.array([(i, j) for j in range(term.k) for i in range(j, term.k)]).T
            truths.append(sigma[:, rows, cols])
        elif term.kind == "exchangeable":  # the correlation uniform on (−1/(k−1), 1)
            var = priors[term.reported_names()[0]].sample(rng, n)
            rho = rng.uniform(term.rho_min, 1, n)
            truths.append(np.column_stack([var, var * rho]))
            corr = ((1 - rho)[:, None, None] * np.eye(term.k)
                    + rho[:, None, None] * np.ones((term.k, term.k)))
            lower = np.sqrt(var)[:, None, None] * np.linalg.cholesky(corr)
        else:
            names = term.reported_names()
            var = np.column_stack([priors[v].sample(rng, n) for v in names])
            truths.append(var)
            sd = np.sqrt(var if term.kind == "independent" else np.repeat(var, term.k, axis=1))
            lower = np.einsum("nk,kj->nkj", sd, np.eye(term.k))
        b = np.einsum("nkj,nlj->nlk", lower, rng.standard_normal((n, term.n_levels, term.k)))
        eta = eta + np.einsum("rk,nrk->nr", z, b[:, codes])
    if layout.sigma2_name:
        s2 = priors[layout.sigma2_name].sample(rng, n)
        truths.append(s2[:, None])
        y = eta + np.sqrt(s2)[:, None] * rng.standard_normal(eta.shape)
    else:
        given = design.glm.given
        y = np.stack([model.family.simulate(rng, e, given, np.zeros(0)) for e in eta])
    return np.column_stack(truths), y


@partial(jax.jit, static_argnames=("model", "kernel", "n_draws"),
         compiler_options=OPTIMISED)
def _sample_replicates(keys, positions, arrays, ys, model: BayesModel, kernel: Kernel,
                       n_draws: int):
    def one(k, p, y):
        rows = dict(arrays["rows"])
        rows["y"] = y
        if "log_choose" in rows:  # binomial rows derive from y
            rows["log_choose"] = (jax.scipy.special.gammaln(rows["trials"] + 1)
                                  - jax.scipy.special.gammaln(y + 1)
                                  - jax.scipy.special.gammaln(rows["trials"] - y + 1))
        if "log_fact" in rows:
            rows["log_fact"] = jax.scipy.special.gammaln(y + 1)
        sub = {**arrays, "rows": rows}
        _, _, _, records = warm_up_and_draw(k, p, sub, model, kernel, n_draws)
        return jax.vmap(jax.vmap(lambda q: reported(q, model)))(records["position"]), \
            records["divergent"]

    return jax.vmap(one)(keys, positions, ys)


def calibrate(design: Design, priors: dict, n_reps: int = 200, settings: Settings | None = None,
              seed: int = 0) -> Calibration:
    """Simulation-based calibration of the model of ``design`` under ``priors``."""
    settings = settings or Settings(chains=1, draws=99, warmup=300, thinning=3)
    model, arrays = build_model(design, priors)
    for name, prior in model.layout.priors:
        if not prior.proper:
            raise SpecError(f"calibration needs proper priors; {{{name}}} has {prior.text()}")
    rng = np.random.default_rng(seed)
    truths, ys = simulate_prior(design, model, arrays, n_reps, rng)
    starts = []
    for y in ys:
        rows = {**arrays["rows"], "y": y}
        start = start_position(design, model, {**arrays, "rows": rows})
        starts.append(jittered_starts(start, settings.chains, rng))
    positions = jax.tree.map(lambda *a: np.stack(a), *starts)
    keys = jax.random.split(jax.random.key(seed), (n_reps, settings.chains))
    draws, divergent = _sample_replicates(keys, positions, jax.tree.map(jnp.asarray, arrays),
                                          jnp.asarray(ys), model, settings.kernel,
                                          settings.draws)
    draws = np.asarray(draws).reshape(n_reps, -1, truths.shape[1])
    ranks = (draws < truths[:, None, :]).sum(axis=1)
    return Calibration(model.layout.scalar_names(), ranks, draws.shape[1], truths,
                       np.asarray(divergent).reshape(n_reps, -1).sum(axis=1))
