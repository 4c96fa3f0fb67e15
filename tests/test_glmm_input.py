"""GLMM bad input and hard data: clear errors before tracing, notes and warnings after."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import mejax
from mejax import DataError, SpecError


def _binary(seed: int = 0, groups: int = 12, per: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    eta = -0.2 + 0.7 * x + rng.normal(scale=0.8, size=groups)[g]
    return pd.DataFrame({"y": rng.binomial(1, expit(eta)), "x": x, "g": g,
                         "n": 3, "e": rng.uniform(0.5, 2, g.size)})


@pytest.mark.parametrize("command,fragment", [
    ("mepoisson y x || g:, binomial(n)", "binomial()"),
    ("melogit y x || g:, intpoints(0)", "intpoints"),
    ("melogit y x || g:, intmethod(simpson)", "integration method"),
    ("melogit y x || g:, exposure(e)", "exposure"),
    ("melogit y x || g:, or irr", "cannot be combined"),
    ("melogit y x || g:, reml", "reml is not an option of melogit"),
    ("melogit y x || g:, residuals(ar 1)", "residuals"),
    ("meologit y x || g:, dispersion(constant)", "dispersion"),
])
def test_bad_stata_options_are_named(command, fragment):
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        mejax.stata(command, _binary())


def test_bad_family_and_link():
    data = _binary()
    with pytest.raises(SpecError, match="unknown family"):
        mejax.meglm("y ~ x + (1|g)", data, family="gamma")
    with pytest.raises(SpecError, match="link 'probit'"):
        mejax.meglm("y ~ x + (1|g)", data, family="poisson", link="probit")
    with pytest.raises(SpecError, match="nodes"):
        mejax.melogit("y ~ x + (1|g)", data, nodes=0)


def test_nonzero_binary_outcome_is_a_success_with_a_note():
    data = _binary()
    coded = data.assign(y=data["y"] * 5)  # 0/5 instead of 0/1
    with pytest.warns(UserWarning, match="nonzero"):
        res = mejax.melogit("y ~ x + (1|g)", coded, method="laplace")
    plain = mejax.melogit("y ~ x + (1|g)", data, method="laplace")
    assert abs(res.loglik - plain.loglik) < 1e-10
    assert any("nonzero" in note for note in res.notes)


@pytest.mark.parametrize("values,fragment", [
    ([-1, 0, 2], "negative"), ([0.5, 1, 2], "non-integer")])
def test_counts_must_be_nonnegative_integers(values, fragment):
    data = _binary()
    data["c"] = np.resize(values, len(data))
    with pytest.raises(DataError, match=fragment):
        mejax.mepoisson("c ~ x + (1|g)", data)


def test_binomial_successes_within_trials_and_positive_exposure():
    data = _binary().assign(k=4)
    with pytest.raises(DataError, match="between 0 and"):
        mejax.stata("melogit k x || g:, binomial(n)", data)
    with pytest.raises(DataError, match="positive"):
        mejax.stata("mepoisson y x || g:, exposure(x)", data)


def test_ordinal_outcome_needs_two_categories():
    data = _binary().assign(r=2)
    with pytest.raises(DataError, match="single category"):
        mejax.meologit("r ~ x + (1|g)", data)


def test_missing_values_dropped_and_counted():
    data = _binary()
    data.loc[[3, 17], "x"] = np.nan
    res = mejax.melogit("y ~ x + (1|g)", data, method="laplace")
    assert res.nobs == len(data) - 2 and res.n_dropped == 2


def test_zero_variance_is_reported_on_the_boundary():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(20), 15)
    x = rng.normal(size=g.size)
    data = pd.DataFrame({"y": rng.binomial(1, expit(0.3 + x)), "x": x, "g": g})
    res = mejax.melogit("y ~ x + (1|g)", data, method="laplace")
    if res.varcomp["estimate"].iloc[0] > 1e-4:
        pytest.skip("this sample happened to show between-group variation")
    assert res.boundary
    assert any("boundary" in note for note in res.notes)
    assert res.lr_test["p"] > 0.4


def test_perfect_separation_is_reported():
    data = _binary(seed=2)
    data["y"] = (data["x"] > 0).astype(int)  # x separates the outcome completely
    with pytest.warns(UserWarning, match="separation"):
        res = mejax.melogit("y ~ x + (1|g)", data, method="laplace")
    assert any("separation" in note for note in res.notes)
