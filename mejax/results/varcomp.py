"""The variance-components table: its rows, Stata's labels and intervals, the boundary.

Intervals of variances are built on the log-sd scale and of correlations on
the atanh scale, as Stata does; a residual structure's parameters on their own.
A variance is zero ("on the boundary") when its effect's share of the
predictor's variance, var · RMS(z)², is below 1e-6·σ² (σ²_e, or 1 on a GLMM's
latent scale): the same verdict whatever the units of z.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special  # scipy.stats costs 0.6 s of import time; special does not

from ..cov.labels import component_label
from ..fit.report import ResidualEstimate
from ..linalg.scaling import column_scales
from ..spec.design import Design

BOUNDARY_RELATIVE = 1e-6


def term_rows(design: Design, order, entries, phi, entries_cov, phi_cov, z) -> list[dict]:
    """Rows of the random-effect terms, in design order (``entries``/``phi`` in block
    ``order``), each with its column's unit for the boundary verdict."""
    rows_by_term: dict[int, list[dict]] = {}
    e_index = phi_index = 0
    for term_i in order:
        term = design.re_terms[term_i]
        struct = term.structure
        units = column_scales(term.z) ** 2
        rows = []
        for (i, j), param in zip(struct.entries(), struct.entry_param()):
            est = float(entries[e_index])
            se = float(np.sqrt(max(entries_cov[e_index, e_index], 0.0)))
            p_idx = phi_index + param
            rows.append(component_row(
                term.label, term.effect_names, struct.label, i, j, est, se,
                phi[p_idx], np.sqrt(max(phi_cov[p_idx, p_idx], 0.0)), z, param,
            ) | {"unit": units[i] if i == j else np.nan})
            e_index += 1
        phi_index += struct.n_phi()
        rows_by_term[term_i] = rows
    return [r for t in range(len(design.re_terms)) for r in rows_by_term[t]]


def residual_rows(residual: tuple[ResidualEstimate, ...], z, first_param: int) -> list[dict]:
    """Rows of σ²_e or of a residual structure's parameters."""
    rows = []
    for n, r in enumerate(residual):
        if r.structure is None:
            row = component_row("Residual", [None], "", 0, 0, r.estimate, r.std_err, r.phi,
                                r.phi_se, z, 0)
            rows.append(row if r.label is None else {**row, "label": r.label})
        else:
            rows.append(residual_row(r.structure, r.by, r.name, r.scale, r.estimate, r.std_err,
                                     r.phi, r.phi_se, z, param=first_param + n))
    return rows


def varcomp_frame(rows: list[dict], sigma2: float) -> pd.DataFrame:
    """The table, with variances on the boundary shown as 0 without SEs."""
    frame = pd.DataFrame(rows)
    is_var = frame["var2"].isna() & (frame["group"] != "Residual")
    unit = frame["unit"].fillna(1.0) if "unit" in frame else 1.0
    boundary = (is_var & (frame["estimate"].abs() * unit <= BOUNDARY_RELATIVE * sigma2)
                ).to_numpy()
    frame = frame.drop(columns="unit", errors="ignore")
    frame.loc[boundary, ["std_err", "ci_lower", "ci_upper", "sd_or_corr_se",
                         "sd_or_corr_lower", "sd_or_corr_upper"]] = np.nan
    frame.loc[boundary, ["estimate", "sd_or_corr"]] = 0.0
    return frame


def on_boundary(design: Design, order, entries, sigma2: float) -> bool:
    """A variance is zero or a correlation is ±1 among the terms' ``entries`` (block order)."""
    start = 0
    for term_i in order:
        term = design.re_terms[term_i]
        struct = term.structure
        units = column_scales(term.z) ** 2
        values = dict(zip(struct.entries(), entries[start:]))
        start += len(struct.entries())
        for (i, j), value in values.items():
            if i == j and value * units[i] <= BOUNDARY_RELATIVE * sigma2:
                return True
            if i != j:
                denom = np.sqrt(values[(i, i)] * values[(j, j)])
                if denom > 0 and abs(value) / denom > 1 - 1e-6:
                    return True
    return False


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
