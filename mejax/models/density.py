"""The conditional log density the integrators integrate: a family's, with weights (traced).

Survey (pseudo-likelihood) weights enter in two places: a row's weight
multiplies its log density inside every integral, and a cluster's weight
multiplies the log of its integral. The row weight travels in the family's
row arrays under :data:`ROW_WEIGHT`, so every integrator, the Newton search
for the modes and the quadrature nodes (whose broadcast row arrays carry it
along) see the weighted density without knowing about weights; without the
key nothing changes, decided when the program is traced.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..families import Family

ROW_WEIGHT = "row_weight"  # key of the rows' weights among a family's row arrays
CLUSTER_WEIGHT = "cluster_weight"  # key of the top-level clusters' weights in the arrays


def log_density(family: Family, eta, data: dict, aux):
    """log p(y_i | η_i) per row, times the row's weight when the rows carry one."""
    ll = family.log_density(eta, data, aux)
    return ll if ROW_WEIGHT not in data else data[ROW_WEIGHT] * ll


def eta_derivatives(family: Family, eta, data: dict, aux):
    """The weighted log density per row with its first and second η-derivatives."""
    ll, d1, d2 = family.eta_derivatives(eta, data, aux)
    if ROW_WEIGHT not in data:
        return ll, d1, d2
    w = data[ROW_WEIGHT]
    return w * ll, w * d1, w * d2


def bind_rows(family: Family, data: dict, aux) -> dict:
    """The row arrays with the family's values from ``aux`` (:meth:`Family.row_values`):
    computed once per likelihood instead of at every density call inside it."""
    return {**data, **family.row_values(data, aux)}


def weighted_total(values, arrays: dict):
    """Σ_c w_c·log L_c over the top-level clusters (plain sum without cluster weights)."""
    weight = arrays.get(CLUSTER_WEIGHT)
    return jnp.sum(values if weight is None else weight * values)
