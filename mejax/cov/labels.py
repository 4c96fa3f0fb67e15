"""Stata's names of variance components: ``var(Days)``, ``cov(Days,_cons)``, ``var(Residual)``.

Tables, batch frames and (later) priors all name a covariance entry the same
way, from its term's effect names, its structure and its position (i, j).
"""

from __future__ import annotations


def component_label(group: str, names: list[str], structure: str, i: int,
                    j: int) -> tuple[str, str | None, str | None]:
    """(label, first variable, second variable) of entry (i, j) of a term's covariance."""
    if group == "Residual":
        return "var(Residual)", None, None
    if i == j:
        label = (f"var({' '.join(names)})" if structure in ("Identity", "Exchangeable")
                 and len(names) > 1 else f"var({names[i]})")
        return label, names[i], None
    first, second = names[min(i, j)], names[max(i, j)]
    label = (f"cov({' '.join(names)})" if structure == "Exchangeable"
             else f"cov({first},{second})")
    return label, first, second
