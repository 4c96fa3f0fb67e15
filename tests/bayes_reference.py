"""The comparison of a mejax.bayes fit with a Stan reference (shared by the bayes test files).

Posterior means, medians and 95% interval ends within 3 Monte Carlo standard
errors (both samplers' MCSEs combined); posterior SDs within 5%, or 3 combined
MCSEs of the SD where the short run's own MCSE is larger than that.
"""

from __future__ import annotations

import numpy as np

from mejax.bayes.diagnostics import quantile_mcse


def assert_agrees_with_stan(fit, ref: dict) -> None:
    """Means, medians and 2.5/97.5% quantiles within 3 combined MCSEs, SDs within 5%."""
    names = fit.names
    table = fit.table
    q_mcse = {p: quantile_mcse(fit.draws, names, p) for p in (0.025, 0.5, 0.975)}
    for param, r in ref.items():
        i = list(table.index).index(param)
        row = table.loc[param]
        checks = [("mean", row["mean"], r["mean"], row["mcse"], r["mcse_mean"]),
                  ("median", row["median"], r["median"], q_mcse[0.5][i], r["mcse_median"]),
                  ("2.5%", row["lower"], r["q025"], q_mcse[0.025][i], r["mcse_q025"]),
                  ("97.5%", row["upper"], r["q975"], q_mcse[0.975][i], r["mcse_q975"])]
        for what, mine, stan, se_mine, se_stan in checks:
            bound = 3 * np.hypot(se_mine, se_stan)
            assert abs(mine - stan) < bound, (param, what, mine, stan, bound)
        sd_bound = max(0.05 * r["sd"], 3 * np.hypot(row["mcse_sd"], r["mcse_sd"]))
        assert abs(row["sd"] - r["sd"]) < sd_bound, (param, "sd", row["sd"], r["sd"])
