"""Stata's ``estat icc`` after ``melogit``, ``meprobit``, ``meologit``, ``meoprobit``,
``metobit`` and ``meintreg``.

On the latent-response scale y* = xβ + Σ_l b_l + ε the level-1 error ε is
logistic (variance π²/3) or standard normal (variance 1), so the ICC of level
j is ρ_j = (σ²_1 + ... + σ²_j) / (σ²_1 + ... + σ²_m + σ²_ε) as after
``mixed``, with σ²_ε fixed. After metobit and meintreg (and a Gaussian meglm)
y* is the censored normal itself and σ²_ε its estimated residual variance
var(e.y), which enters the delta method with the variance components.
Standard errors come from the observed information by the delta method
through the reported variances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .icc import _entry_index, _levels_top_down, icc_rows


def icc(result) -> pd.DataFrame:
    """Latent-scale ICC per level (top level first), delta-method SE, logit-scale interval."""
    order = _levels_top_down(result)
    cov_params, jacs, values = result._information
    where = _entry_index(result)
    idx = [where[i] for i in order]
    entries = np.asarray(values[0], dtype=float)[idx]
    if result.family.residual_variance_aux:  # σ²_ε = var(e.y), estimated
        jac = np.vstack([np.asarray(jacs[0])[idx], np.asarray(jacs[2])[:1]])
        v = np.concatenate([entries, np.asarray(values[2], dtype=float)[:1]])
        return icc_rows(result, order, v, jac @ cov_params @ jac.T)
    v = np.concatenate([entries, [result.family.latent_variance()]])
    cov = np.zeros((len(v), len(v)))
    jac = np.asarray(jacs[0])[idx]
    cov[:-1, :-1] = jac @ cov_params @ jac.T  # the latent variance is a constant
    return icc_rows(result, order, v, cov)
