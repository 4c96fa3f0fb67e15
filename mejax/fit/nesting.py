"""Nested random-effects levels of a GLMM design (host side, numpy).

A design is strictly nested when its grouping levels form a chain in which
every group of a lower level lies in exactly one group of the level above
(``|| school: || class:``, ``(1 | school/class)``, or unique class codes
beside school codes). Terms with the same grouping variables form one level.
The nested quadrature engine (:mod:`mejax.models.glmm_nested`) needs each
level's row codes, each group's parent one level up and the level's columns
of Z; the sparse engine's arrays come with them, for post-estimation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..spec.design import Design


def nested_levels(design: Design) -> list[list[int]] | None:
    """Indices of the random-effect terms at each level, top first; None unless nested.

    A design with one level (all terms share the grouping) is not nested.
    """
    terms = design.re_terms
    by_group: dict[tuple[str, ...], list[int]] = {}
    for i, term in enumerate(terms):
        by_group.setdefault(term.group_vars, []).append(i)
    if len(by_group) < 2:
        return None
    levels = sorted(by_group.values(), key=lambda idx: terms[idx[0]].n_levels)
    for upper, lower in zip(levels, levels[1:]):
        parents = pd.Series(terms[upper[0]].codes).groupby(terms[lower[0]].codes).nunique()
        if (parents > 1).any():
            return None
    return levels


def level_arrays(design: Design) -> tuple[dict, ...]:
    """The nested engine's per-level arrays, top first.

    Each level has the rows' group codes, each group's parent code one level
    up (zeros at the top) and the level's columns of Z (design term order).
    """
    levels = nested_levels(design)
    if levels is None:
        raise ValueError("the random-effects levels are not strictly nested")
    terms = design.re_terms
    widths = [t.z.shape[1] for t in terms]
    starts = np.concatenate([[0], np.cumsum(widths)]).astype(int)
    out, upper_codes = [], None
    for idx in levels:
        term = terms[idx[0]]
        parent = np.zeros(term.n_levels, dtype=np.int32)
        if upper_codes is not None:
            parent[term.codes] = upper_codes
        z_cols = np.concatenate([np.arange(starts[i], starts[i] + widths[i]) for i in idx])
        out.append({"group": term.codes.astype(np.int32), "parent": parent,
                    "cols": z_cols.astype(np.int32)})
        upper_codes = term.codes
    return tuple(out)


def model_levels(design: Design) -> list[tuple[str, np.ndarray, int]]:
    """(label, row codes, number of groups) of every random-effects level, top first.

    One level when every term shares its grouping; the nested chain otherwise
    (crossed designs have no order of levels: an empty list).
    """
    terms = design.re_terms
    if not terms:
        return []
    if all(t.group_vars == terms[0].group_vars for t in terms[1:]):
        return [(terms[0].label, terms[0].codes, terms[0].n_levels)]
    levels = nested_levels(design)
    if levels is None:
        return []
    return [(terms[idx[0]].label, terms[idx[0]].codes, terms[idx[0]].n_levels)
            for idx in levels]
