"""How a GLMM's random effects are integrated out, and what post-estimation can do with it.

Post-estimation asks these questions (are there effects, are posterior means
available, which method and how many points were really used) instead of
reading the engine's and method's names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Integration:
    """The engine ("none", "grouped", "sparse", "nested"), method and points per dimension."""

    engine: str
    method: str  # "laplace", "mcaghq", "mvaghq" or "ghq"
    nodes: int

    @property
    def has_effects(self) -> bool:
        return self.engine != "none"

    @property
    def per_group(self) -> bool:
        """One level of effects: one K-vector and curvature block per group."""
        return self.engine == "grouped"

    @property
    def has_posterior_means(self) -> bool:
        """Empirical Bayes means need each group's own integral: one level of effects."""
        return self.per_group

    @property
    def used(self) -> str:
        """The method actually used: crossed levels and one adaptive point are Laplace."""
        if self.engine == "sparse" or (self.nodes == 1 and self.method != "ghq"):
            return "laplace"
        return self.method

    @property
    def used_nodes(self) -> int:
        return 1 if self.used == "laplace" else self.nodes

    @property
    def fell_back_to_laplace(self) -> bool:
        """Quadrature was asked for crossed levels, which only the Laplace engine integrates."""
        return self.engine == "sparse" and self.method != "laplace"

    def posterior_nodes(self, default: int) -> int:
        """Points for posterior means: the fit's own, or ``default`` after a Laplace fit."""
        return self.nodes if self.method != "laplace" and self.nodes > 1 else default
