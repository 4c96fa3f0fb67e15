"""The result of a Bayesian fit: draws, Stata's header and table, diagnostics, ArviZ.

Parameters are named as Stata names them (``{Reaction:Days}``, ``{var_U0}``,
``{e.Reaction:sigma2}``); :attr:`BayesResult.draws` holds every reported
parameter as (chains, draws, parameters). Divergent transitions and R-hat
above 1.01 are reported as :class:`BayesWarning` and in the output.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree

from ..errors import SpecError
from ..fit.menl import NonlinearDesign
from ..spec.design import Design
from ..text import StataText, html_block
from .diagnostics import as_inference_data, summarize
from .graphs import bayesgraph
from .model import BayesModel
from .posterior import effects as term_effects
from .posterior import (
    free_from_reported,
    linear_predictor,
    log_likelihood,
    log_posterior,
    pointwise_log_likelihood,
    reported,
    term_factor,
)
from .sampler import Settings

RHAT_LIMIT = 1.01
# one compiled call each where op-by-op evaluation compiles every operation (seconds)
_compiled_log_likelihood = jax.jit(log_likelihood, static_argnums=2)
_compiled_log_posterior = jax.jit(log_posterior, static_argnums=2)


class BayesWarning(UserWarning):
    """MCMC that may not have converged: divergent transitions or R-hat above 1.01."""


def _brace(name: str) -> str:
    return "{" + name + "}"


@dataclass
class BayesResult:
    design: Design | NonlinearDesign  # NonlinearDesign: bayes: menl
    model: BayesModel
    arrays: dict
    settings: Settings
    records: dict  # (chains, draws, ...) arrays from the sampler
    info: dict
    level: float = 95.0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.names = self.model.layout.scalar_names()
        rep = jax.jit(jax.vmap(jax.vmap(lambda p: reported(p, self.model))))
        self.draws = np.asarray(rep(self.records["position"]))
        n_div = int(np.sum(self.records["divergent"]))
        if n_div:
            self.notes.append(f"{n_div} of {self.n_draws_total} transitions after warm-up were "
                              "divergent; increase target_accept or reparameterise; the "
                              "results may be biased")
        max_rhat = self.max_rhat
        if np.isfinite(max_rhat) and max_rhat > RHAT_LIMIT:
            worst = self.table["rhat"].idxmax()
            self.notes.append(f"max R-hat {max_rhat:.3f} > {RHAT_LIMIT} ({worst}): the "
                              "chains have not converged; sample longer")
        for note in self.notes:
            warnings.warn(note, BayesWarning, stacklevel=4)

    # ---- numbers ---------------------------------------------------------------------
    @property
    def n_draws_total(self) -> int:
        return self.settings.chains * self.settings.draws

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per parameter: mean, sd, mcse, median, lower, upper, ess_bulk, ess_tail, rhat."""
        frame = summarize(self.draws, self.names, self.level)
        frame.index = [_brace(n) for n in self.names]
        frame.index.name = "parameter"
        return frame

    @property
    def max_rhat(self) -> float:
        return float(self.table["rhat"].max())

    @property
    def divergent(self) -> int:
        return int(np.sum(self.records["divergent"]))

    @property
    def acceptance_rate(self) -> float:
        return float(np.mean(self.records["accept"]))

    def efficiency(self) -> pd.Series:
        """Bulk ESS over the number of draws (Stata's efficiency)."""
        return self.table["ess_bulk"] / self.n_draws_total

    def draws_frame(self) -> pd.DataFrame:
        """Every draw of every parameter, with chain and draw numbers."""
        chains, n, _ = self.draws.shape
        frame = pd.DataFrame(self.draws.reshape(chains * n, -1),
                             columns=[_brace(x) for x in self.names])
        frame.insert(0, "draw", np.tile(np.arange(n), chains))
        frame.insert(0, "chain", np.repeat(np.arange(chains), n))
        return frame

    def parameter(self, name: str) -> np.ndarray:
        """Draws (chains, draws) of one parameter, named with or without braces."""
        key = name.strip()
        key = key[1:-1] if key.startswith("{") and key.endswith("}") else key
        if key not in self.names:
            raise KeyError(f"no parameter {_brace(key)}; parameters are "
                           f"{', '.join(_brace(n) for n in self.names)}")
        return self.draws[..., self.names.index(key)]

    @cached_property
    def effects(self) -> dict[str, np.ndarray]:
        """Draws of the random effects b = L u of each term: (chains, draws, levels, k).

        Empty when they were integrated out (``integrate=``): then they were not sampled.
        """
        if self.model.integrated is not None:
            return {}
        every = jax.jit(jax.vmap(jax.vmap(lambda p: term_effects(p, self.model))))
        return {term.stub: np.asarray(b) for term, b in
                zip(self.model.layout.terms, every(self.records["position"]))}

    @cached_property
    def pointwise_loglik(self) -> np.ndarray:
        """log p(y_i | β, b, aux) per draw and row, (chains, draws, rows).

        Conditional on each draw's random effects, as brms and rstanarm give
        it to ``loo``; :meth:`waic` and :meth:`loo` read it. It holds
        chains × draws × rows numbers (320 MB for 4 × 1000 draws of 10,000 rows).
        With the effects integrated out (``integrate=``) it is per top-level
        cluster, log p(y_c | β, θ, aux): leave-one-cluster-out.
        """
        rows = jax.vmap(jax.vmap(lambda p: pointwise_log_likelihood(p, self.arrays,
                                                                    self.model)))
        return np.asarray(jax.jit(rows)(self.records["position"]))

    def to_arviz(self, log_likelihood: bool = True):
        """ArviZ InferenceData: the reported parameters, the random effects and sample stats.

        With ``log_likelihood`` (the default) it also holds the pointwise log
        likelihood (group ``log_likelihood``, variable ``y``), so ``az.loo``,
        ``az.waic`` and ``az.compare`` work on it unchanged.
        """
        import arviz as az

        idata = as_inference_data(self.draws, self.names)
        effects = {}
        for term in self.model.layout.terms:
            b = self.effects.get(term.stub)  # None when the effects were integrated out
            for j, name in enumerate(term.effects if b is not None else ()):
                effects[name] = b[..., j]
        stats = {"diverging": self.records["divergent"], "acceptance_rate": self.records["accept"],
                 "n_steps": self.records["steps"], "tree_depth": self.records["depth"],
                 "loglik": self.records["loglik"]}
        extra = az.from_dict(posterior=effects, sample_stats=stats,
                             dims={n: [f"{n}_level"] for n in effects})
        if effects:
            idata.posterior = idata.posterior.merge(extra.posterior)
        idata.add_groups(sample_stats=extra.sample_stats)
        if log_likelihood:
            pointwise = az.from_dict(log_likelihood={"y": self.pointwise_loglik},
                                     dims={"y": ["obs"]})
            idata.add_groups(log_likelihood=pointwise.log_likelihood)
        return idata

    def waic(self):
        """WAIC (Watanabe 2010) from the pointwise log likelihood: ArviZ's ELPDData.

        ``elpd_waic`` = Σ_i log mean_s p(y_i | θ_s) − Σ_i var_s log p(y_i | θ_s), the
        variance over the S draws with divisor S (ArviZ's; the R package loo divides by S − 1).
        """
        import arviz as az

        return az.waic(self.to_arviz(), pointwise=True)

    def loo(self):
        """PSIS leave-one-out cross-validation (Vehtari et al. 2017): ArviZ's ELPDData.

        Pareto k above 0.7 flags rows whose leave-one-out estimate is unreliable
        (ArviZ warns); with random effects per row-group such rows are common in
        small groups.
        """
        import arviz as az

        return az.loo(self.to_arviz(), pointwise=True)

    # ---- post-estimation ----------------------------------------------------------------
    def ess(self) -> pd.DataFrame:
        """bayesstats ess: ESS, correlation time and efficiency per parameter."""
        ess = self.table["ess_bulk"]
        return pd.DataFrame({"ESS": ess, "Corr. time": self.n_draws_total / ess,
                             "Efficiency": ess / self.n_draws_total})

    def grubin(self) -> pd.DataFrame:
        """bayesstats grubin: R-hat (Gelman–Rubin, rank-normalised) per parameter."""
        if self.settings.chains < 2:
            raise ValueError("bayesstats grubin needs at least two chains (nchains(2) or more)")
        return self.table[["rhat"]].rename(columns={"rhat": "Rc"})

    def _flat_positions(self):
        positions = self.records["position"]
        one = jax.tree.map(lambda a: a[0, 0], positions)
        _, unravel = ravel_pytree(one)
        flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(positions)
        return np.asarray(flat).reshape(-1, np.asarray(flat).shape[-1]), unravel

    def _mean_position(self):
        """The position whose β, variances, aux and effects b are their posterior means."""
        layout = self.model.layout
        mean = self.draws.reshape(-1, self.draws.shape[-1]).mean(axis=0)
        beta = mean[: layout.p]
        offset, cov, us = layout.p, [], []
        for term in layout.terms:
            size = len(term.reported_names())
            values = mean[offset: offset + size]
            offset += size
            free = free_from_reported(values, term)
            lower = np.asarray(term_factor(jnp.asarray(free), term))
            cov.append(free)
            if self.model.integrated is None:
                b_mean = self.effects[term.stub].reshape(-1, term.n_levels, term.k).mean(0)
                us.append(np.linalg.solve(lower, b_mean.T).T)
        position = {"beta": beta, "cov": tuple(cov), "u": tuple(us)}
        if layout.sigma2_name:
            position["log_sigma2"] = np.log(mean[offset: offset + 1])
            offset += 1
        aux = np.asarray(self.records["position"]["aux"])
        position["aux"] = aux.reshape(-1, aux.shape[-1]).mean(axis=0) if aux.size else aux[0, 0]
        return jax.tree.map(jnp.asarray, position)

    def ic(self) -> pd.DataFrame:
        """bayesstats ic: DIC (conditional on the random effects) and the log marginal likelihood.

        The log marginal likelihood is the Laplace–Metropolis approximation on the
        sampling scale: log p(θ̄ | y)-unnormalised + d/2 log 2π + ½ log|Σ̂_θ| at the
        posterior mean θ̄ with the posterior covariance Σ̂_θ of all sampled values.
        """
        deviance = -2 * np.asarray(self.records["loglik"]).ravel()
        at_mean = self._mean_position()
        d_hat = -2 * float(_compiled_log_likelihood(at_mean, self.arrays, self.model))
        p_d = float(deviance.mean()) - d_hat
        flat, unravel = self._flat_positions()
        center = flat.mean(axis=0)
        cov = np.atleast_2d(np.cov(flat, rowvar=False))
        sign, logdet = np.linalg.slogdet(cov)
        log_post = float(_compiled_log_posterior(unravel(jnp.asarray(center)), self.arrays,
                                                 self.model))
        d = flat.shape[1]
        log_ml = log_post + 0.5 * d * np.log(2 * np.pi) + 0.5 * logdet if sign > 0 else np.nan
        return pd.DataFrame({"DIC": [d_hat + 2 * p_d], "log(ML)": [log_ml], "pD": [p_d]},
                            index=["active"])

    def bayesgraph(self, kind: str = "diagnostics", names: list[str] | None = None,
                   **options):
        """Stata's ``bayesgraph``: ``diagnostics``, ``trace``, ``histogram``, ``kdensity``,
        ``ac`` or ``matrix`` of the named parameters (all when None); pyplot figure(s).

        ``options``: ``title``, ``saving``, ``replace`` (Stata's graph options).
        """
        return bayesgraph(self, kind, names, **options)

    def test_interval(self, condition: str) -> pd.DataFrame:
        """bayestest interval: the posterior probability of ``condition`` with its MCSE."""
        from .expressions import evaluate_condition

        hits = evaluate_condition(condition, self.parameter).astype(float)
        prob = float(hits.mean())
        post = as_inference_data(hits[..., None], ["p"]).posterior
        import arviz as az

        mcse = float(az.mcse(post, method="mean")["p"].values) if 0 < prob < 1 else 0.0
        return pd.DataFrame({"Mean": [prob], "Std. dev.": [hits.std(ddof=1)], "MCSE": [mcse]},
                            index=[condition])

    def posterior_predict(self, n: int | None = None, seed: int = 0) -> np.ndarray:
        """Replicated outcomes y_rep (draws, rows), one per posterior draw (at most ``n``)."""
        if self.model.integrated is not None:
            raise SpecError("posterior_predict needs the sampled random effects; they were "
                            "integrated out (sample again without integrate=)")
        rng = np.random.default_rng(seed)
        chains, draws = self.draws.shape[:2]
        picks = np.arange(chains * draws)
        if n is not None and n < picks.size:
            picks = np.sort(rng.choice(picks, n, replace=False))
        positions = jax.tree.map(lambda a: a.reshape(chains * draws, *a.shape[2:])[picks],
                                 self.records["position"])
        eta = np.asarray(jax.jit(jax.vmap(lambda p: linear_predictor(p, self.arrays,
                                                                      self.model)))(positions))
        layout = self.model.layout
        if layout.sigma2_name:
            sd = np.sqrt(np.exp(np.asarray(positions["log_sigma2"])))
            return eta + sd * rng.standard_normal(eta.shape)
        family = self.model.family
        given = self.design.glm.given
        aux = np.asarray(jax.vmap(family.aux_reported)(positions["aux"]))
        return np.stack([family.simulate(rng, e, given, a, self.design.glm.categories)
                         for e, a in zip(eta, aux)])

    # ---- output -------------------------------------------------------------------------
    def summary(self) -> StataText:
        from .table import render

        return StataText(render(self))

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        """Jupyter's view: Stata's table, the very text of ``summary()``."""
        return html_block(self.summary())
