"""Parametric bootstrap: simulate from the fitted model, refit every replicate in batch.

Every replicate draws new random effects and residuals at the estimates
(:mod:`mejax.batch.simulate`) and is refitted, starting from the
estimates, in compiled vmapped chunks (:mod:`mejax.batch`). Percentile
intervals use the converged replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..batch.kinds import kind_for
from ..batch.result import BatchResult
from ..text import StataText


@dataclass
class BootstrapResult:
    """Replicate estimates (one row per replicate) and percentile intervals.

    ``replicates``: the batch frame (estimates, loglik, converged, code,
    status, steps); ``estimate``: the original fit's estimates under the same
    column names; ``batch``: the underlying :class:`BatchResult`.
    """

    replicates: pd.DataFrame
    estimate: pd.Series
    batch: BatchResult
    level: float = 95.0
    seed: int | None = None

    @property
    def n(self) -> int:
        return len(self.replicates)

    @property
    def n_failed(self) -> int:
        return self.batch.n_failed

    def to_frame(self) -> pd.DataFrame:
        return self.replicates.copy()

    def ci(self, level: float | None = None) -> pd.DataFrame:
        """Per estimate: the original value, bootstrap mean, bias, std. error, percentile CI."""
        level = self.level if level is None else float(level)
        if not 0 < level < 100:
            raise ValueError(f"level must be between 0 and 100, got {level}")
        draws = self.batch.estimates(converged_only=True)
        tail = (100 - level) / 200
        if len(draws):
            lower, upper = draws.quantile(tail), draws.quantile(1 - tail)
        else:
            lower = upper = pd.Series(np.nan, index=draws.columns)
        return pd.DataFrame({
            "estimate": self.estimate,
            "boot_mean": draws.mean(),
            "bias": draws.mean() - self.estimate,
            "std_err": draws.std(ddof=1),
            "ci_lower": lower,
            "ci_upper": upper,
        })

    def summary(self, level: float | None = None) -> StataText:
        level = self.level if level is None else float(level)
        table = self.ci(level)
        n_ok = self.n - self.n_failed
        head = (f"Parametric bootstrap: {self.n} replicates, {n_ok} converged"
                f"{'' if self.seed is None else f', seed {self.seed}'}\n"
                f"Percentile intervals at {level:g}%\n\n")
        return StataText(head + table.to_string(float_format=lambda v: f"{v:.6g}"))

    def __repr__(self) -> str:
        return f"<BootstrapResult {self.n} replicates, {self.n - self.n_failed} converged>"

    def _repr_html_(self) -> str:
        return self.ci()._repr_html_()


def bootstrap(result, n: int = 1000, seed=None, *, level: float | None = None,
              chunk_size: int | None = None, progress: bool | None = None,
              devices=None) -> BootstrapResult:
    """Parametric bootstrap of a fitted model: ``n`` simulated replicates refitted in batch."""
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be at least 2 replicates, got {n}")
    kind = kind_for(result)
    simulator = kind.simulator(result)
    rng = np.random.default_rng(seed)
    batch = kind.refit(result, lambda lo, hi: simulator.draw(rng, hi - lo), n,
                       start="estimate", chunk_size=chunk_size, progress=progress,
                       devices=devices, desc="bootstrap")
    level = float(result.level if level is None else level)
    return BootstrapResult(batch.frame, kind.point_estimates(result), batch, level, seed)
