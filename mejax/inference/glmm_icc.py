"""Stata's ``estat icc`` after ``melogit``, ``meprobit``, ``meologit`` and ``meoprobit``.

On the latent-response scale y* = xβ + Σ_l b_l + ε the level-1 error ε is
logistic (variance π²/3) or standard normal (variance 1), so the ICC of level
j is ρ_j = (σ²_1 + ... + σ²_j) / (σ²_1 + ... + σ²_m + σ²_ε) as after
``mixed``, with σ²_ε fixed. Standard errors come from the observed
information by the delta method through the reported variances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .icc import _entry_index, _levels_top_down, icc_rows


def icc(result) -> pd.DataFrame:
    """Latent-scale ICC per level (top level first), delta-method SE, logit-scale interval."""
    resid = result.family.latent_variance()
    order = _levels_top_down(result)
    cov_params, jacs, values = result._information
    entries = np.asarray(values[0], dtype=float)
    entries_cov = jacs[0] @ cov_params @ jacs[0].T
    where = _entry_index(result)
    idx = [where[i] for i in order]
    v = np.concatenate([entries[idx], [resid]])
    cov = np.zeros((len(v), len(v)))
    cov[:-1, :-1] = entries_cov[np.ix_(idx, idx)]  # the latent variance is a constant
    return icc_rows(result, order, v, cov)
