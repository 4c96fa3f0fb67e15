"""Sandwich variances from per-cluster scores: robust, cluster-robust and survey-linearized.

The estimates maximise Σ_c w_c log L_c; with H the observed information of
that (pseudo-)log likelihood and s_c = ∂(w_c log L_c)/∂θ the score of top-level
cluster c, the variance is H⁻¹ J H⁻¹ where J estimates the variance of the
total score from the scores summed per primary sampling unit (PSU):

* survey (``linearized``, Stata's ``svy``): J = Σ_h (1 − f_h) n_h/(n_h − 1)
  Σ_i (s_hi − s̄_h)(s_hi − s̄_h)' over strata h with n_h PSUs and sampling
  fraction f_h;
* ``robust`` / ``cluster``: J = C/(C − 1) Σ_i s_i s_i' over the C clusters.

Strata with a single PSU follow Stata's ``singleunit()``: ``missing`` is refused
when the design is read (the variance is not estimable), ``certainty`` lets them contribute nothing,
``scaled`` scales the others' contribution up by the share of strata they
stand for, ``centered`` centres the singletons at the grand mean.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..spec.survey import SamplingUnits

TITLES = {"linearized": "Linearized", "robust": "Robust", "cluster": "Robust"}


def psu_totals(cluster_scores: np.ndarray, units: SamplingUnits) -> np.ndarray:
    """Scores summed over each PSU's clusters: (P, p)."""
    out = np.zeros((units.n_psu, cluster_scores.shape[1]))
    np.add.at(out, units.psu, cluster_scores)
    return out


def score_variance(cluster_scores: np.ndarray, units: SamplingUnits) -> np.ndarray:
    """J, the estimated variance of the total score (the sandwich's meat)."""
    s = psu_totals(cluster_scores, units)
    if units.kind != "linearized":
        c = units.n_psu
        if c < 2:
            raise DataError("a cluster-robust variance needs at least two clusters")
        return c / (c - 1) * s.T @ s
    strata = units.strata
    counts = np.bincount(strata, minlength=units.n_strata)
    singles = np.flatnonzero(counts == 1)  # singleunit(missing) refused them already
    grand = s.mean(axis=0)
    meat = np.zeros((s.shape[1], s.shape[1]))
    for h in range(units.n_strata):
        rows = strata == h
        n_h = int(counts[h])
        if n_h == 1:
            if units.singleunit == "centered":
                d = s[rows] - grand
                meat += (1.0 - units.fraction[rows][0]) * d.T @ d
            continue
        d = s[rows] - s[rows].mean(axis=0)
        meat += (1.0 - units.fraction[rows][0]) * n_h / (n_h - 1) * d.T @ d
    if singles.size and units.singleunit == "scaled":
        meat *= units.n_strata / (units.n_strata - singles.size)
    return meat


def sandwich(bread: np.ndarray, cluster_scores: np.ndarray, units: SamplingUnits) -> np.ndarray:
    """H⁻¹ J H⁻¹ with ``bread`` = H⁻¹ (all parameters, optimisation scale)."""
    meat = score_variance(cluster_scores, units)
    cov = bread @ meat @ bread
    return 0.5 * (cov + cov.T)
