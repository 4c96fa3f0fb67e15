"""Posterior summaries and MCMC diagnostics of draws shaped (chains, draws) (host side).

ESS (bulk and tail), R-hat and Monte Carlo standard errors are ArviZ's
(Vehtari et al. 2021 rank-normalised estimators, as Stan reports them);
quantiles are equal-tailed over all chains pooled.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

SUMMARY_COLUMNS = ["mean", "sd", "mcse", "median", "lower", "upper", "ess_bulk", "ess_tail",
                   "rhat"]


def as_inference_data(draws: np.ndarray, names: list[str]):
    """ArviZ InferenceData with one variable per named parameter; ``draws`` is (chains, n, p)."""
    return az.from_dict(posterior={n: draws[..., i] for i, n in enumerate(names)})


def summarize(draws: np.ndarray, names: list[str], level: float = 95.0) -> pd.DataFrame:
    """Mean, sd, MCSE of the mean, median, equal-tailed interval, bulk/tail ESS and R-hat."""
    idata = as_inference_data(draws, names)
    post = idata.posterior
    tail = (100 - level) / 200
    flat = draws.reshape(-1, draws.shape[-1])
    frame = pd.DataFrame({
        "mean": flat.mean(axis=0),
        "sd": flat.std(axis=0, ddof=1),
        "mcse": _values(az.mcse(post, method="mean"), names),
        "median": np.median(flat, axis=0),
        "lower": np.quantile(flat, tail, axis=0),
        "upper": np.quantile(flat, 1 - tail, axis=0),
        "ess_bulk": _values(az.ess(post, method="bulk"), names),
        "ess_tail": _values(az.ess(post, method="tail"), names),
        "rhat": _values(az.rhat(post), names) if draws.shape[0] > 1 else np.nan,
        "mcse_sd": _values(az.mcse(post, method="sd"), names),
    }, index=pd.Index(names, name="parameter"))
    return frame


def _values(dataset, names: list[str]) -> np.ndarray:
    return np.array([float(dataset[n].values) for n in names])


def quantile_mcse(draws: np.ndarray, names: list[str], prob: float) -> np.ndarray:
    """Monte Carlo standard error of the ``prob`` quantile of every parameter."""
    post = as_inference_data(draws, names).posterior
    return _values(az.mcse(post, method="quantile", prob=prob), names)
