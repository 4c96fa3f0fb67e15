"""The rows of the variance-components table, with Stata's labels and intervals.

Intervals of variances are built on the log-sd scale and of correlations on
the atanh scale, as Stata does; a residual structure's parameters on their own.
"""

from __future__ import annotations

import numpy as np
from scipy import special  # scipy.stats costs 0.6 s of import time; special does not

from ..cov.labels import component_label


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def residual_row(title, by, name, scale, est, se, phi_est, phi_se, z, param):
    """One residual-structure row; the interval is built on the parameter's own scale."""
    lo_phi, hi_phi = phi_est - z * phi_se, phi_est + z * phi_se
    if scale == "log":
        lo, hi = np.exp(2 * lo_phi), np.exp(2 * hi_phi)
    elif scale == "atanh":
        lo, hi = np.tanh(lo_phi), np.tanh(hi_phi)
    elif scale == "logit":
        lo, hi = special.expit(lo_phi), special.expit(hi_phi)
    else:
        lo, hi = est - z * se, est + z * se
    is_var = name == "var(e)" or name.startswith("var(")
    sd, sd_se = (np.sqrt(est), np.sqrt(est) * phi_se) if is_var else (est, se)
    sd_lo, sd_hi = (np.sqrt(lo), np.sqrt(hi)) if is_var else (lo, hi)
    plain_var = name == "var(e)" and by is None
    return {
        "group": "Residual", "var1": None if plain_var else name, "var2": None,
        "estimate": est, "std_err": se, "ci_lower": float(lo), "ci_upper": float(hi),
        "label": name if by is None else f"{by}: {name}", "structure": title,
        "param": param, "correlation": np.nan if is_var else est, "by": by,
        "sd_or_corr": float(sd), "sd_or_corr_se": float(sd_se),
        "sd_or_corr_lower": float(sd_lo), "sd_or_corr_upper": float(sd_hi),
    }


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def component_row(group, names, structure, i, j, est, se, phi_est, phi_se, z, param):
    """One varcomp row with its Stata label and interval (boundary values give inf/nan)."""
    is_var = i == j
    label, var1, var2 = component_label(group, names, structure, i, j)
    if is_var:
        lo, hi = np.exp(2 * (phi_est - z * phi_se)), np.exp(2 * (phi_est + z * phi_se))
        corr = np.nan
        sd, sd_se = np.sqrt(est), np.sqrt(est) * phi_se
        sd_lo, sd_hi = np.sqrt(lo), np.sqrt(hi)
    else:
        lo, hi = est - z * se, est + z * se
        corr = float(np.tanh(phi_est))
        sd, sd_se = corr, (1 - corr**2) * phi_se
        sd_lo, sd_hi = np.tanh(phi_est - z * phi_se), np.tanh(phi_est + z * phi_se)
    return {
        "group": group, "var1": var1, "var2": var2, "estimate": est, "std_err": se,
        "ci_lower": float(lo), "ci_upper": float(hi), "label": label,
        "structure": structure, "param": param, "correlation": corr,
        "sd_or_corr": float(sd), "sd_or_corr_se": float(sd_se),
        "sd_or_corr_lower": float(sd_lo), "sd_or_corr_upper": float(sd_hi),
    }
