"""Python users' habits and syntax slips get errors that say the fix, before any tracing."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mejax
import mejax.api as api
from mejax.api_checks import ArgumentError, BinaryOutcomeWarning
from mejax.cli import main


@pytest.fixture()
def no_fits(monkeypatch):
    """Any fit fails the test: every error below must come before tracing."""
    def traced(*args, **kwargs):
        raise AssertionError("a model was fitted before the error")
    monkeypatch.setattr(api, "fit_design", traced)
    monkeypatch.setattr(api, "fit_glmm_design", traced)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": np.repeat(np.arange(8), 5), "x": rng.normal(size=40)})
    df["y"] = df["x"] + np.repeat(rng.normal(size=8), 5) + rng.normal(size=40)
    df["b"] = (df["y"] > 0).astype(int)
    return df


@pytest.mark.parametrize("call, message", [
    (lambda d: mejax.mixed("y ~ x + (1 | g)", d, REML=False), r"did you mean reml=\?"),
    (lambda d: mejax.mixed("y ~ x + (1 | g)", d, family="binomial"), r"mejax\.meglm"),
    (lambda d: mejax.mixed("y ~ x", d, groups="g"), r"\(1 \| g\)"),
    (lambda d: mejax.mixed("y ~ x + (1 | g)", d, rmel=True), r"did you mean reml=\?"),
    (lambda d: mejax.meglm("b ~ x + (1 | g)", d, reml=True), "REML is for linear models"),
    (lambda d: mejax.melogit("b ~ x + (1 | g)", d, reml=True), "REML is for linear models"),
    (lambda d: mejax.melogit("b ~ x + (1 | g)", d, nAGQ=5), "method='mcaghq', nodes="),
    (lambda d: mejax.melogit("b ~ x + (1 | g)", d, family="poisson"), "fixes the family"),
])
def test_wrong_keywords_say_the_right_spelling(no_fits, small, call, message):
    with pytest.raises(ArgumentError, match=message) as err:
        call(small)
    assert isinstance(err.value, TypeError) and isinstance(err.value, mejax.SpecError)


@pytest.mark.parametrize("family, message", [
    ("logit", "link of the binomial family.*family='binomial', link='logit'.*melogit"),
    ("probit", "family='binomial', link='probit'"),
    ("log", "family='poisson'"),
    ("gaussian", "use mejax.mixed"),
])
def test_family_names(no_fits, small, family, message):
    with pytest.raises(mejax.SpecError, match=message):
        mejax.meglm("b ~ x + (1 | g)", small, family=family)


@pytest.mark.parametrize("call, message", [
    (lambda d: mejax.stata("mixed y x | g:", d), r"two bars.*\|\| id:"),
    (lambda d: mejax.stata("mixed y x || g, reml", d), r"needs a colon.*'\|\| g:'"),
    (lambda d: mejax.stata("melogit b x || g:, reml", d),
     "reml is not an option of melogit: REML"),
    (lambda d: mejax.stata("mixed y x || g:, binomial(n)", d), "belongs to the me"),
    (lambda d: mejax.mixed("y ~ x + I(x^2) + (1 | g)", d), re.escape("write 'I(x**2)'")),
])
def test_syntax_errors_say_the_fix(no_fits, small, call, message):
    with pytest.raises(mejax.SpecError, match=message):
        call(small)


def test_help_shows_the_parameters():
    for fn in (mejax.melogit, mejax.mepoisson, mejax.menbreg, mejax.meologit):
        params = inspect.signature(fn).parameters
        assert list(params)[:2] == ["formula", "data"]
        assert {"trials", "method", "nodes", "eform", "level"} <= set(params)
        assert "kwargs" not in params
        assert fn.__name__ in fn.__doc__ and "meglm" in fn.__doc__
    assert "reml" in inspect.signature(mejax.mixed).parameters


def test_binary_outcome_fitted_as_linear_warns(small, capsys):
    with pytest.warns(BinaryOutcomeWarning, match="melogit"):
        mejax.mixed("b ~ x + (1 | g)", small)
    with pytest.warns(BinaryOutcomeWarning, match="melogit b"):
        mejax.stata("mixed b x || g:", small)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BinaryOutcomeWarning)
        mejax.mixed("y ~ x + (1 | g)", small)  # a continuous outcome: no warning


def test_command_line_reml_and_binary_hint(small, tmp_path, capsys):
    csv = tmp_path / "s.csv"
    small.to_csv(csv, index=False)
    assert main(["mixed y x || g:", "--data", str(csv), "--reml"]) == 0
    out = capsys.readouterr().out
    assert "Mixed-effects REML regression" in out
    assert main(["melogit b x || g:", "--data", str(csv), "--reml"]) == 2
    assert "--reml is for linear models" in capsys.readouterr().err
    assert main(["mixed y x || g:, mle", "--data", str(csv), "--reml"]) == 2
    assert "reml and mle cannot be combined" in capsys.readouterr().err
    assert main(["b ~ x + (1 | g)", "--data", str(csv)]) == 0
    err = capsys.readouterr().err
    assert "warning: b takes only the values 0 and 1" in err and "--family binomial" in err
