"""The issue's GLMM seed commands run as printed, on simulated data of the right kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import mejax


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(20)
    group = np.repeat(np.arange(8), 40)
    ident = np.repeat(np.arange(40), 8)  # 5 ids per group, nested
    n = group.size
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    a = rng.integers(1, 4, n)
    eta = (0.2 + 0.5 * x1 - 0.4 * x2 + 0.3 * (a == 2) - 0.2 * (a == 3)
           + rng.normal(scale=0.5, size=8)[group] + rng.normal(scale=0.6, size=40)[ident])
    latent = eta + rng.logistic(size=n)
    return pd.DataFrame({
        "y_bin": rng.binomial(1, expit(eta)), "y_ord": np.digitize(latent, [-1.0, 0.5, 2.0]),
        "y_cnt": rng.poisson(np.exp(0.3 * eta)), "x1": x1, "x2": x2, "a": a,
        "group": group, "id": ident,
    })


@pytest.mark.parametrize("command,outcome", [
    ("melogit y x1 x2 i.a || id:", "y_bin"),
    ("melogit y x1 x2 i.a || group: || id:", "y_bin"),
    ("melogit y x1 x2 i.a || group: x1 || id: x2", "y_bin"),
    ("meologit y x1 x2 i.a || id:", "y_ord"),
    ("mepoisson y x1 x2 i.a || id:", "y_cnt"),
    ("menbreg y x1 x2 i.a || id:", "y_cnt"),
])
def test_seed_command_runs(data, command, outcome):
    if "group: x1" in command:  # 7⁴ nodes per row: half the rows keep the test short
        data = data[data.index % 8 < 4]
    res = mejax.stata(command, data.assign(y=data[outcome]))
    assert res.converged
    assert np.isfinite(res.loglik) and np.all(np.isfinite(res.fixef_se))
    text = str(res.summary())
    assert "Integration method: mvaghermite" in text
    assert "LR test vs." in text
    table = res.margins("a, at(x1 = (-10(1)10))")["table"]
    rows = 3 * 21 * (4 if outcome == "y_ord" else 1)  # every category's probability
    assert len(table) == rows and np.all(np.isfinite(table.iloc[:, 0].to_numpy(float)))


def test_command_line_fits_glmms(capsys):
    from mejax.cli import main

    assert main(["melogit incidence i.period || herd:, binomial(size) laplace or",
                 "--data", "cbpp"]) == 0
    out = capsys.readouterr().out
    assert "Mixed-effects logistic regression" in out and "Odds ratio" in out
    assert main(["incidence ~ C(period) + (1 | herd)", "--data", "cbpp", "--family",
                 "poisson", "--method", "laplace"]) == 0
    assert "Mixed-effects Poisson regression" in capsys.readouterr().out
    assert main(["melogit incidence i.period || herd:, binomial(size) intpoints(0)",
                 "--data", "cbpp"]) == 2
