"""Bad input gets a clear error before any tracing; missing values are dropped and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.spec.design import DataError
from mejax.spec.formula import parse_formula
from mejax.spec.model import SpecError


def test_missing_column(sleepstudy):
    with pytest.raises(DataError, match="column\\(s\\) 'Dayz' not found"):
        mejax.mixed("Reaction ~ Dayz + (1 | Subject)", sleepstudy)


def test_non_numeric_response(sleepstudy):
    df = sleepstudy.assign(Reaction=sleepstudy["Reaction"].astype(str))
    with pytest.raises(DataError, match="response 'Reaction' must be numeric"):
        mejax.mixed("Reaction ~ Days + (1 | Subject)", df)


def test_infinite_values(sleepstudy):
    df = sleepstudy.astype({"Days": float})
    df.loc[3, "Days"] = np.inf
    with pytest.raises(DataError, match="'Days' has infinite values"):
        mejax.mixed("Reaction ~ Days + (1 | Subject)", df)


def test_empty_data(sleepstudy):
    with pytest.raises(DataError, match="empty"):
        mejax.mixed("Reaction ~ Days + (1 | Subject)", sleepstudy.iloc[:0])


def test_single_level_group(sleepstudy):
    df = sleepstudy.assign(one="a")
    with pytest.raises(DataError, match="single level"):
        mejax.mixed("Reaction ~ Days + (1 | one)", df)


def test_missing_values_dropped_and_counted(sleepstudy):
    df = sleepstudy.copy()
    df.loc[[0, 5, 9], "Reaction"] = np.nan
    res = mejax.mixed("Reaction ~ Days + (1 | Subject)", df)
    assert res.nobs == 177 and res.n_dropped == 3
    assert "3 observation(s) with missing values dropped" in str(res.summary())


def test_collinear_column_omitted(sleepstudy):
    df = sleepstudy.assign(Days2=2 * sleepstudy["Days"])
    with pytest.warns(UserWarning, match="Days2 omitted because of collinearity"):
        res = mejax.mixed("Reaction ~ Days + Days2 + (1 | Subject)", df)
    assert list(res.fixef.index) == ["(Intercept)", "Days"]
    assert "(omitted)" in str(res.summary())


@pytest.mark.parametrize("formula, message", [
    ("Reaction Days", "exactly one '~'"),
    ("Reaction ~ Days + (1 | Subject", "unbalanced"),
    ("Reaction ~ Days + (1 Subject)", "cannot parse expression"),
    ("~ Days", "no response"),
    ("Reaction ~ Days + + (1|Subject)", "empty term"),
    ("Reaction ~ Days + (1 | np.log(Subject))", "grouping factor"),
])
def test_bad_formulas(formula, message):
    with pytest.raises(SpecError, match=message):
        parse_formula(formula)


def test_no_random_effects(sleepstudy):
    with pytest.raises(SpecError, match="no random effects"):
        mejax.mixed("Reaction ~ Days", sleepstudy)


def test_not_a_dataframe():
    with pytest.raises(DataError, match="DataFrame"):
        mejax.mixed("y ~ x + (1|g)", {"y": [1, 2]})


def test_boundary_reported():
    df = mejax.datasets.load("dyestuff2")
    res = mejax.mixed("Yield ~ 1 + (1 | Batch)", df)
    assert res.boundary
    assert res.varcomp["estimate"].iloc[0] == 0.0
    assert any("boundary" in n for n in res.notes)


def test_nonconvergence_is_reported(sleepstudy, monkeypatch):
    from mejax.fit import host_bfgs

    real = host_bfgs.minimise

    def stopped_early(*args, **kwargs):
        return real(*args, **{**kwargs, "max_steps": 1})

    monkeypatch.setattr(host_bfgs, "minimise", stopped_early)
    with pytest.warns(mejax.ConvergenceWarning, match="did not converge"):
        res = mejax.mixed("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert not res.converged
    assert "convergence not achieved" in str(res.summary())


def test_transforms_and_factors(sleepstudy):
    df = sleepstudy.assign(g=np.where(sleepstudy["Days"] > 4, "late", "early"))
    res = mejax.mixed("Reaction ~ np.log(Days + 1) + g + I(Days**2) + (1 | Subject)", df)
    assert list(res.fixef.index) == ["(Intercept)", "np.log(Days + 1)", "glate", "I(Days**2)"]
    assert isinstance(res.to_frame(), pd.DataFrame)
    assert "<pre" in res._repr_html_()
