"""Odd data and odd requests (issue 20): a clear message or the R/Stata behaviour, never a crash.

Every model here has the same small shape (21 groups × 7), so the few fits
share compiled programs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.errors import DataError, FitError, SpecError
from mejax.spec.identifiability import IdentifiabilityWarning


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(0)
    n = 147
    g = np.repeat(np.arange(21), 7)
    x = rng.normal(size=n)
    y = 0.5 * x + rng.normal(size=21)[g] + rng.normal(size=n)
    return pd.DataFrame({
        "y": y, "x": x, "g": g, "w": rng.integers(1, 3, size=n), "yb": y > 0,
        "date": pd.date_range("2020-01-01", periods=n, freq="D"), "xc": rng.normal(size=n),
        "xg": np.repeat(rng.normal(size=21), 7), "allnan": np.nan, "obs": np.arange(n),
    })


@pytest.fixture(scope="module")
def base_fit(df):
    return mejax.mixed("y ~ x + (1 | g)", df)


# ---- a fit that failed -----------------------------------------------------------------------

def test_failed_fit_post_estimation_says_so(df):
    with pytest.warns(UserWarning, match="rescale variables"), \
            pytest.warns(mejax.ConvergenceWarning), np.errstate(over="ignore", invalid="ignore"):
        fit = mejax.mixed("y ~ x + (1 | g)", df.assign(y=df.y * 1e160))
    assert not fit.converged and not np.isfinite(fit.loglik)
    with pytest.raises(FitError, match="fit failed"):
        fit.predict(kind="fitted")
    with pytest.raises(FitError, match="ranef"):
        fit.ranef()


# ---- identifiability (lme4's checks) ---------------------------------------------------------

def test_levels_equal_rows_refused(df):
    with pytest.raises(DataError, match="obs has 147 levels for 147 observations"):
        mejax.mixed("y ~ x + (1 | obs)", df)
    with pytest.raises(DataError, match="cannot be told apart from the residual"):
        mejax.stata("mixed y x || obs:", df)


def test_more_random_effects_than_rows_refused(df):
    pairs = df.assign(pair=df.obs // 2).iloc[:146]
    with pytest.raises(DataError, match="146 random effects .* for 146 observations"):
        mejax.mixed("y ~ (1 + x | pair)", pairs)


def test_slope_constant_within_groups_warns(df, base_fit):
    with pytest.warns(IdentifiabilityWarning, match="xg cannot be told apart"):
        mejax.mixed("y ~ x + (1 + xg | g)", df)


# ---- odd columns -----------------------------------------------------------------------------

def test_dates_are_numbers_as_in_r_and_stata(df, base_fit):
    with pytest.warns(UserWarning, match="date \\(dates\\) used as days since 1970-01-01"):
        r = mejax.mixed("y ~ date + (1 | g)", df)
    days = (df.date - pd.Timestamp("1970-01-01")).dt.days
    same = mejax.mixed("y ~ days + (1 | g)", df.assign(days=days))
    assert list(r.fixef.index) == ["(Intercept)", "date"]
    np.testing.assert_allclose(r.fixef.to_numpy(), same.fixef.to_numpy(), rtol=1e-8)
    with pytest.warns(UserWarning, match="since 1960-01-01, as Stata"):
        s = mejax.stata("mixed y date || g:", df)
    assert s.loglik == pytest.approx(r.loglik, abs=1e-8)  # only the origin differs


def test_factor_with_too_many_levels_refused(df):
    with pytest.raises(DataError, match="noninteger values"):
        mejax.stata("mixed y i.xc || g:", df)
    many = df.assign(code=np.arange(len(df)) * 10)  # 147 levels is fine, the limit is 1000
    big = pd.concat([many] * 8, ignore_index=True).assign(code=np.arange(8 * len(df)))
    with pytest.raises(DataError, match="code has 1176 distinct values"):
        mejax.stata("mixed y i.code || g:", big)
    with pytest.raises(DataError, match="1176 distinct values"):
        mejax.mixed("y ~ C(code) + (1 | g)", big)


def test_duplicate_column_names(df):
    dup = pd.concat([df[["y", "x"]], df[["x", "g"]]], axis=1)
    with pytest.raises(DataError, match="2 columns named 'x'"):
        mejax.mixed("y ~ x + (1 | g)", dup)


def test_entirely_missing_column_named(df):
    with pytest.raises(DataError, match="'allnan' is missing in all 147 rows"):
        mejax.mixed("y ~ x + allnan + (1 | g)", df)
    some = df.assign(a=np.where(df.obs % 2 == 0, np.nan, 1.0),
                     b=np.where(df.obs % 2 == 1, np.nan, 1.0))
    with pytest.raises(DataError, match="every one of the 147 rows .* most missing"):
        mejax.mixed("y ~ a + b + (1 | g)", some)


def test_session_predict_with_duplicate_index_labels(df):
    data = df.copy()
    data.loc[3, "x"] = np.nan
    data.index = list(range(70)) + list(range(77))  # as pd.concat leaves it
    s = mejax.StataSession(data, echo=False)
    s.run("mixed y x || g:")
    s.run("predict yhat, fitted")
    assert np.isnan(s.data["yhat"].iloc[3]) and s.data["yhat"].notna().sum() == 146


# ---- Stata options and qualifiers ------------------------------------------------------------

@pytest.mark.parametrize("command, message", [
    ("mixed y x [fw=w] || g:", "fweights are not supported"),
    ("mixed y x || g:, level(abc)", "level\\(abc\\) must be a number between 10 and 99.99"),
    ("mixed y x || g:, level(5)", "between 10 and 99.99"),
    ("mixed y x || g:, coeflegend", "coeflegend of mixed is not supported"),
    ("mixed y x || g:, intpoints(7)", "not an option of mixed"),
    ("mixed y x || g:, bogus", "unknown option 'bogus' in random-effects equation 'g' or "
                               "among mixed's options"),
])
def test_stata_messages(df, command, message):
    with pytest.raises(SpecError, match=message):
        mejax.stata(command, df)


def test_maximisation_options_ignored_with_a_note(df, base_fit):
    with pytest.warns(UserWarning, match="iterate\\(50\\) technique\\(nr\\) ignored"):
        fit = mejax.stata("mixed y x || g:, iterate(50) technique(nr)", df)
    assert fit.loglik == pytest.approx(base_fit.loglik, abs=1e-8)


def test_if_and_in_qualifiers(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = mejax.stata("mixed y x if x > 0 || g:", df)
        ref = mejax.mixed("y ~ x + (1 | g)", df[df.x > 0])
        first = mejax.stata("mixed y x in 1/70 || g:", df)
    assert sub.loglik == pytest.approx(ref.loglik, abs=1e-8) and sub.nobs == int((df.x > 0).sum())
    assert first.nobs == 70
