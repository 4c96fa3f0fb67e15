"""Small-sample degrees of freedom (dfmethod) against lmerTest / pbkrtest references."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_case, load_case_data

import mejax
from mejax.spec.model import SpecError

CASES = ["dfmethod_orthodont_reml", "dfmethod_orthodont_ftest_reml", "dfmethod_sleepstudy_reml",
         "dfmethod_pastes_nested_reml", "dfmethod_penicillin_crossed_reml"]
STATA_NAMES = {"(Intercept)": "_cons", "age:female": "c.age#c.female"}


def _fit(case: dict, method: str, front: str):
    data = load_case_data(case)
    if front == "python":
        return mejax.mixed(case["model"]["formula"], data, reml=True, dfmethod=method), {}
    command = case["model"]["stata"].split(" df")[0] + f" dfmethod({method})"
    return mejax.stata(command, data), STATA_NAMES


@pytest.mark.parametrize("front", ["python", "stata"])
@pytest.mark.parametrize("case_id", CASES)
def test_kroger(case_id: str, front: str) -> None:
    case = load_case(case_id)
    ref = case["reference"]
    res, names = _fit(case, "kroger", front)
    for name, df in ref["kroger_df"].items():
        stata_name = names.get(name, name)
        assert res.df[stata_name] == pytest.approx(df, rel=0.01)
        assert res.fixef_se[stata_name] == pytest.approx(ref["kroger_se"][name], rel=1e-3)
    assert res.vcov.shape == res.vcov_unadjusted.shape
    if "kroger_F" in ref:
        f = res.wald_test
        assert f["F"] == pytest.approx(ref["kroger_F"]["F"], rel=1e-3)
        assert f["df2"] == pytest.approx(ref["kroger_F"]["ddf"], rel=0.01)
        assert f["df1"] == ref["kroger_F"]["ndf"]


@pytest.mark.parametrize("front", ["python", "stata"])
@pytest.mark.parametrize("case_id", CASES)
def test_satterthwaite(case_id: str, front: str) -> None:
    case = load_case(case_id)
    ref = case["reference"]
    res, names = _fit(case, "satterthwaite", front)
    for name, df in ref["satterthwaite_df"].items():
        assert res.df[names.get(name, name)] == pytest.approx(df, rel=0.01)
    np.testing.assert_allclose(res.vcov, res.vcov_unadjusted)
    if "satterthwaite_F" in ref:
        f = res.wald_test
        assert f["F"] == pytest.approx(ref["satterthwaite_F"]["F"], rel=1e-3)
        assert f["df2"] == pytest.approx(ref["satterthwaite_F"]["ddf"], rel=0.01)


def test_design_methods() -> None:
    case = load_case("dfmethod_orthodont_reml")
    data = load_case_data(case)
    formula = case["model"]["formula"]
    res = mejax.mixed(formula, data, reml=True, dfmethod="residual")
    assert set(res.df) == {104.0}  # n − rank(X) = 108 − 4
    rep = mejax.mixed(formula, data, reml=True, dfmethod="repeated").df
    # between-subject effects: 27 − 2; within: 108 − 27 − 2
    assert rep.to_dict() == {"(Intercept)": 25, "age": 79, "female": 25, "age:female": 79}
    anova = mejax.mixed(formula, data, reml=True, dfmethod="anova").df
    assert set(anova) == {25.0}


def test_t_table_and_summary() -> None:
    case = load_case("dfmethod_orthodont_reml")
    res = mejax.stata(case["model"]["stata"], load_case_data(case))
    table = res.coef_table
    assert {"t", "P>|t|"} <= set(table.columns) and "z" not in table.columns
    text = str(res.summary())
    assert "DF method: Kenward–Roger" in text and "F(3, 27.60)" in text and "P>|t|" in text
    assert res.to_frame()["p_value"].notna().sum() >= 4


def test_ml_default_unchanged() -> None:
    case = load_case("dfmethod_orthodont_reml")
    res = mejax.mixed(case["model"]["formula"], load_case_data(case), reml=True)
    assert res.df is None and "z" in res.coef_table.columns


@pytest.mark.parametrize("command, message", [
    ("mixed distance age || Subject:, dfmethod(kroger)", "REML"),
    ("mixed distance age || Subject:, mle dfmethod(sat)", "REML"),
    ("mixed distance age || Subject:, reml dfmethod(bogus)", "unknown dfmethod"),
    ("mixed distance age || Subject:, reml dfmethod", "needs an argument"),
])
def test_bad_stata_input(command: str, message: str) -> None:
    data = load_case_data(load_case("dfmethod_orthodont_reml"))
    with pytest.raises(SpecError, match=message):
        mejax.stata(command, data)


def test_bad_python_input() -> None:
    data = load_case_data(load_case("dfmethod_orthodont_reml"))
    with pytest.raises(SpecError, match="REML"):
        mejax.mixed("distance ~ age + (1 | Subject)", data, dfmethod="kroger")
    with pytest.raises(SpecError, match="unknown dfmethod"):
        mejax.mixed("distance ~ age + (1 | Subject)", data, reml=True, dfmethod="kenward")
    with pytest.raises(SpecError, match="two-level"):
        res = mejax.mixed("diameter ~ 1 + (1 | plate) + (1 | sample)",
                          load_case_data(load_case("dfmethod_penicillin_crossed_reml")),
                          reml=True, dfmethod="repeated")
        _ = res.df
