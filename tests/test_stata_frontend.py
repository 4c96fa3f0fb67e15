"""The Stata front end: seed commands run as printed; names and defaults follow Stata."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.spec.model import SpecError
from mejax.spec.stata import parse_stata


@pytest.fixture(scope="module")
def seed_data() -> pd.DataFrame:
    """Three-level data with the product page's columns: group > subgroup > id."""
    rng = np.random.default_rng(7)
    rows = []
    for g in range(8):
        ug = rng.normal(0, 0.7)
        for sg in range(3):
            usg = rng.normal(0, 0.4)
            for i in range(4):
                ui, si = rng.normal(0, 0.5), rng.normal(0, 0.3)
                for _ in range(5):
                    x1, x2, a = rng.normal(), rng.normal(), rng.integers(1, 5)
                    y = (1 + 0.5 * x1 + 0.4 * x2 + 0.2 * a + ug + usg + ui + si * x1
                         + rng.normal(0, 0.6))
                    rows.append((y, x1, x2, a, g, f"{g}-{sg}", f"{g}-{sg}-{i}",
                                 rng.integers(1, 7), rng.integers(1, 5)))
    return pd.DataFrame(rows, columns=["y", "x1", "x2", "a", "group", "subgroup", "id",
                                       "grp1", "grp2"])


SEED_COMMANDS = [
    "mixed y x1 x2 i.a || id:, allbase",
    "mixed y x1 x2 i.a || id: x1",
    "mixed y x1 x2 i.a || id: x1, covariance(unstructured)",
    "mixed y x1 x2 i.a || id:, reml",
    "mixed y x1 x2 i.a || group: || id:",
    "mixed y x1 x2 i.a || group: x1 || id: x2",
    "mixed y x1 x2 i.a || group: || subgroup: || id:",
    "mixed y x1 x2 i.a || _all: R.grp1 || grp2:",
]


@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_seed_commands_run_as_printed(command, seed_data):
    res = mejax.stata(command, seed_data)
    assert res.converged
    assert list(res.fixef.index) == ["x1", "x2", "2.a", "3.a", "4.a", "_cons"]
    text = str(res.summary())
    assert "Random-effects parameters" in text and "var(Residual)" in text
    assert ("(base)" in text) == ("allbase" in command)  # Stata hides base levels by default
    assert np.isfinite(res.loglik)


def test_stata_matches_formula_api(seed_data):
    """The same model through both front ends gives the same fit."""
    a = mejax.stata("mixed y x1 x2 i.a || group: x1 || id: x2", seed_data)
    b = mejax.mixed("y ~ x1 + x2 + C(a) + (1 + x1 || group) + (1 + x2 || group:id)", seed_data)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-6)
    np.testing.assert_allclose(a.fixef[["x1", "x2", "2.a"]], b.fixef[["x1", "x2", "a2"]],
                               rtol=1e-6)


def test_defaults_independent_for_slopes(seed_data):
    res = mejax.stata("mixed y x1 x2 i.a || id: x1", seed_data)
    vc = res.varcomp
    assert set(vc["structure"].iloc[:-1]) == {"Independent"}
    assert list(vc["label"]) == ["var(x1)", "var(_cons)", "var(Residual)"]


def test_base_level_and_ib(seed_data):
    res = mejax.stata("mixed y x1 ib3.a || id:", seed_data)
    assert list(res.fixef.index) == ["x1", "1.a", "2.a", "4.a", "_cons"]
    res = mejax.stata("mixed y x1 ibn.a, noconstant || id:", seed_data)
    assert list(res.fixef.index) == ["x1", "1.a", "2.a", "3.a", "4.a"]


def test_interactions(seed_data):
    res = mejax.stata("mixed y i.a##c.x1 x2 || id:", seed_data)
    assert "2.a#c.x1" in res.fixef.index
    res = mejax.stata("mixed y c.x1#c.x2 || id:", seed_data)
    assert list(res.fixef.index) == ["c.x1#c.x2", "_cons"]


def test_options(seed_data):
    res = mejax.stata("mixed y x1 || id:, stddeviations level(90)", seed_data)
    text = str(res.summary())
    assert "sd(_cons)" in text and "[90% conf. interval]" in text
    res = mejax.stata("mixed y x1 || id:, variance mle", seed_data)
    assert not res.reml


def test_missing_colon_is_an_error_that_says_the_fix():
    with pytest.raises(SpecError, match=r"needs a colon after the level variable: write "
                                        r"'\|\| id:'"):
        parse_stata("mixed y x1 || id, reml")


@pytest.mark.parametrize("command, message", [
    ("regress y x", "unknown or unsupported Stata command 'regress'"),
    ("mixed y x || id:, bogus", "unknown option 'bogus'"),
    ("mixed y x || id:, covariance(weird)", "unknown covariance structure"),
    ("mixed y x || id:, residuals(weird)", "unknown residual structure"),
    ("mixed y x || id:, residuals(ar 1, q(time))", "unknown residuals() suboption"),
    ("mixed y x || g: || id:, residuals(ar 1) || h:", "residuals() belongs"),
    ("mixed y x || _all: grp", "R.varname"),
    ("mixed y x$ || id:", "cannot parse variable 'x$'"),
    ("mixed y x || id:, reml mle", "cannot be combined"),
    ("mixed y c.x#c.x || id:", "repeats a variable within an interaction"),
])
def test_bad_commands(command, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_stata(command)
