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

from ..spec.model import SpecError
from .icc import _entry_index, _levels_top_down, icc_rows

LATENT_VARIANCE = {"logit": np.pi**2 / 3, "probit": 1.0}


def latent_variance(result) -> float:
    """Variance of the latent level-1 error: π²/3 (logit) or 1 (probit)."""
    family = result.family
    if family.name not in ("binomial", "ordinal") or family.link not in LATENT_VARIANCE:
        raise SpecError("estat icc is available after logit and probit models (melogit, "
                        "meprobit, meologit, meoprobit); this model is "
                        f"{family.name} with a {family.link} link")
    return float(LATENT_VARIANCE[family.link])


def icc(result) -> pd.DataFrame:
    """Latent-scale ICC per level (top level first), delta-method SE, logit-scale interval."""
    resid = latent_variance(result)
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
