"""The formula front end on formulaic: each construct against R's model matrices and lme4's
fits (tests/reference/make_refs_formulaic.R), against patsy (statsmodels' formula engine),
and designs rebuilt on new data with the training state (scale, knots, levels)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import formulaic
import numpy as np
import pandas as pd
import patsy
import pytest

import mejax
from mejax.errors import DataError, SpecError
from mejax.families import make_family
from mejax.spec.design import build_design
from mejax.spec.formula import parse_formula

CASES = json.loads((Path(__file__).parent / "reference" / "formulaic" / "cases.json").read_text())
LMM_CASES = [k for k, v in CASES.items() if "family" not in v]


def load(name: str) -> pd.DataFrame:
    df = mejax.datasets.load(name)
    if name == "orthodont":
        df = df.assign(sex=np.where(df["female"] == 1, "female", "male"))
    if name == "cbpp":
        df = df.assign(log_size=np.log(df["size"]))
    return df


def case_spec(case: dict):
    spec = parse_formula(case["formula"])
    if "family" in case:
        spec = replace(spec, family=make_family(case["family"], None))
    return spec


@pytest.fixture(scope="module")
def fits() -> dict:
    out = {}
    for key in LMM_CASES:
        case = CASES[key]
        out[key] = mejax.mixed(case["formula"], load(case["data"]))
    case = CASES["offset"]
    out["offset"] = mejax.mepoisson(case["formula"], load(case["data"]), method="laplace")
    return out


@pytest.mark.parametrize("key", list(CASES))
def test_model_matrix_equals_r(key):
    case = CASES[key]
    design = build_design(case_spec(case), load(case["data"]))
    np.testing.assert_allclose(design.x, np.array(case["x"]).T, atol=1e-10)


@pytest.mark.parametrize("key", list(CASES))
def test_fit_equals_lme4(fits, key):
    case, fit = CASES[key], fits[key]
    glmm = "family" in case  # lme4's Laplace stops a little short (as in test_reference_glmm)
    assert abs(fit.loglik - case["loglik"]) < (1e-3 if glmm else 1e-5)
    np.testing.assert_allclose(fit.fixef.to_numpy(), case["fixef"], rtol=2e-3 if glmm else 1e-4,
                               atol=1e-4)
    # lme4's glmer SEs hold θ fixed; mejax's (Stata's) come from the full information
    np.testing.assert_allclose(fit.fixef_se.to_numpy(), case["fixef_se"],
                               rtol=0.02 if glmm else 2e-3)
    np.testing.assert_allclose(fit.varcomp["estimate"].to_numpy(),
                               _mejax_order(fit, case["varcomp"]), rtol=2e-3, atol=1e-3)


def _mejax_order(fit, ref) -> np.ndarray:
    """lme4's variance components in the fit's row order (variances; covariances)."""
    values = {}
    columns = [np.atleast_1d(ref[k]) for k in ("group", "var1", "var2", "estimate")]
    for g, v1, v2, e in zip(*columns):
        values[(g, v1 if v1 else None, v2 if v2 else None)] = e
    out = []
    for _, row in fit.varcomp.iterrows():
        v1 = row["var1"] if isinstance(row["var1"], str) and row["var1"] else None
        v2 = row["var2"] if isinstance(row["var2"], str) and row["var2"] else None
        if row["group"] == "Residual":
            v1 = v2 = None
        out.append(values.get((row["group"], v1, v2), values.get((row["group"], v2, v1))))
    return np.array(out, dtype=float)


# ---- against patsy (statsmodels' formula engine) -------------------------------------------
@pytest.mark.parametrize("rhs", [
    "cr(Days, df=5, constraints='center')",
    "C(f, Sum) * Days",
    "C(f, Helmert) + I(Days**2)",
    "C(f, Treatment(reference='c')) * Days",
    "np.log(Days + 1) + I(Days**2) + center(Days)",
])
def test_design_equals_patsy(rhs):
    df = load("sleepstudy")
    df = df.assign(f=np.array(["a", "b", "c"])[df["Days"].to_numpy() % 3])
    design = build_design(parse_formula(f"Reaction ~ {rhs} + (1 | Subject)"), df)
    expected = np.asarray(patsy.dmatrix(rhs, df, NA_action="raise"))
    assert design.x.shape == expected.shape
    np.testing.assert_allclose(design.x, expected, atol=1e-10)


def test_plain_columns_equal_formulaic():
    """Parts of numeric columns only are stacked directly; the same matrix formulaic builds."""
    df = load("sleepstudy").assign(z=lambda d: np.sin(d["Days"]))
    design = build_design(parse_formula("Reaction ~ z + Days + (Days + z | Subject)"), df)
    for got, rhs in ((design.x, "z + Days"), (design.re_terms[0].z, "Days + z")):
        expected = formulaic.model_matrix(rhs, df)
        np.testing.assert_array_equal(got, np.asarray(expected, dtype=float))
    assert design.x_names == ["(Intercept)", "z", "Days"]


# ---- names ---------------------------------------------------------------------------------
def test_names_follow_lme4_for_treatment_and_formulaic_otherwise(fits):
    assert list(fits["treatment_ref"].fixef.index) == [
        "(Intercept)", "age8", "age12", "age14", "sexmale"]
    assert list(fits["sum"].fixef.index) == [
        "(Intercept)", "C(age, Sum)[S.8]", "C(age, Sum)[S.10]", "C(age, Sum)[S.12]"]
    assert list(fits["bs"].fixef.index)[1] == "bs(Days, df=4)[1]"
    assert list(fits["offset"].fixef.index) == ["(Intercept)", "period2", "period3", "period4"]


def test_both_spellings_in_test_and_lincom(fits):
    fit = fits["treatment_ref"]
    plain = fit.lincom("age8 - age12")
    formulaic_name = fit.lincom(
        "C(age, Treatment(reference=10))[T.8] - C(age, Treatment(reference=10))[T.12]")
    assert formulaic_name["estimate"] == pytest.approx(plain["estimate"])
    assert formulaic_name["std_err"] == pytest.approx(plain["std_err"])
    assert fit.test("age8=age12")["chi2"] == pytest.approx(
        fit.test("C(age, Treatment(reference=10))[T.8] = C(age, Treatment(reference=10))[T.12]"
                 )["chi2"])
    sum_fit = fits["sum"]
    assert sum_fit.lincom("C(age, Sum)[S.8]")["estimate"] == pytest.approx(
        sum_fit.fixef["C(age, Sum)[S.8]"])
    both = sum_fit.test("C(age, Sum)[S.8] C(age, Sum)[S.10]")
    assert both["df"] == 2 and "C(age, Sum)[S.8] = 0" in both["constraints"]
    assert fits["offset"].lincom("period[T.2]")["estimate"] == pytest.approx(
        fits["offset"].fixef["period2"])
    assert fits["scale"].lincom("Intercept")["estimate"] == pytest.approx(
        fits["scale"].fixef["(Intercept)"])


def test_quoted_and_non_ascii_names():
    """Backticks, Q("...") and non-ASCII names; the numbers are lme4's sleepstudy fit."""
    ref = json.loads((Path(__file__).parent / "reference" / "cases"
                      / "lmm_sleepstudy_unstructured_ml.json").read_text())["reference"]
    df = load("sleepstudy").rename(columns={"Days": "days count", "Reaction": "größe",
                                            "Subject": "Proband"})
    fit = mejax.mixed('größe ~ Q("days count") + (`days count` | Proband)', df)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-7)
    assert fit.fixef.iloc[1] == pytest.approx(ref["fixef"]["Days"], rel=1e-5)
    assert list(fit.fixef.index) == ["(Intercept)", 'Q("days count")']  # as written
    assert fit.lincom("Q('days count')")["estimate"] == pytest.approx(fit.fixef.iloc[1])


# ---- new data with the training state ------------------------------------------------------
@pytest.mark.parametrize("key", ["scale", "bs", "random_scale", "center"])
def test_predict_newdata_equals_in_sample(fits, key):
    fit, data = fits[key], load(CASES[key]["data"])
    rows = data.iloc[::7]  # a subset: its own mean, sd and quantiles differ from the sample's
    for kind in ("xb", "fitted"):
        new = fit.predict(kind, data=rows)
        np.testing.assert_allclose(new.to_numpy(), fit.predict(kind).to_numpy()[::7],
                                   rtol=1e-10, atol=1e-8)


def test_margins_use_training_scale(fits):
    fit, data = fits["scale"], load("orthodont")
    est = fit.margins(dydx="age")["table"]["dydx"].iloc[0]
    assert est == pytest.approx(fit.fixef["scale(age)"] / data["age"].std(), rel=1e-8)


def test_margins_do_not_depend_on_the_contrasts(fits):
    """The same model coded by Sum, Helmert or treatment contrasts: the same margins."""
    want = fits["sum"].margins("age")["table"]
    for key in ("helmert",):
        got = fits[key].margins("age")["table"]
        np.testing.assert_allclose(got["margin"], want["margin"], rtol=1e-6)
        np.testing.assert_allclose(got["std_err"], want["std_err"], rtol=1e-4)
    means = load("orthodont").groupby("age")["distance"].mean().to_numpy()
    np.testing.assert_allclose(want["margin"], means, rtol=1e-6)  # balanced data: cell means


def test_glmm_offset_on_new_data(fits):
    fit, data = fits["offset"], load("cbpp")
    rows = data.iloc[::5]
    np.testing.assert_allclose(fit.predict("xb", data=rows).to_numpy(),
                               fit.predict("xb").to_numpy()[::5], rtol=1e-10)


def test_unseen_level_on_new_data(fits):
    rows = load("orthodont").iloc[:4].assign(sex="other")
    with pytest.raises(DataError, match="level 'other' of 'sex'"):
        fits["scale"].predict("xb", data=rows)


def test_fit_batch_data_sets_match_single_fits():
    data = load("sleepstudy")
    parts = [data[data["Days"] != d] for d in (0, 9)]
    formula = "Reaction ~ scale(Days) + (1 | Subject)"
    batch = mejax.fit_batch(formula, data=parts)
    for i, part in enumerate(parts):
        single = mejax.mixed(formula, part)
        assert batch.frame["loglik"].iloc[i] == pytest.approx(single.loglik, rel=1e-7)
        assert batch.frame["scale(Days)"].iloc[i] == pytest.approx(
            single.fixef["scale(Days)"], rel=1e-5)


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("formula, error, message", [
    ("y ~ x + ( | g)", SpecError, r"no effects left of '\|': write \(1 \| g\)"),
    ("y ~ foo(x) + (1 | g)", SpecError, "unknown function 'foo'"),
    ("y ~ x + (1 | g) + offset(z)", SpecError, "offset"),
    ("y ~ x + I(x^2) + (1 | g)", SpecError, "write 'I\\(x\\*\\*2\\)'"),
    ("y ~ x + z + (1 | g)", DataError, "column\\(s\\) 'z' not found"),
])
def test_bad_formulas(formula, error, message):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=20), "x": rng.normal(size=20),
                       "g": np.repeat(list("abcde"), 4), "z": np.ones(20)})
    if "+ z +" in formula:
        df = df.drop(columns="z")
    with pytest.raises(error, match=message):
        mejax.mixed(formula, df)


def test_non_ascii_response_is_a_column_name():
    spec = parse_formula("größe ~ alter + (1 | gruppe)")
    assert spec.response == "größe"


def test_missing_values_and_collinear_columns():
    df = load("sleepstudy").copy()
    df.loc[[3, 50], "Days"] = np.nan
    with pytest.warns(UserWarning, match="omitted because of collinearity"):
        fit = mejax.mixed("Reaction ~ scale(Days) + I(2 * Days) + (1 | Subject)", df)
    assert fit.n_dropped == 2
    assert list(fit.fixef.index) == ["(Intercept)", "scale(Days)"]


def test_non_finite_transform():
    df = load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match="np.log\\(Days\\).*non-finite"):
            mejax.mixed("Reaction ~ np.log(Days) + (1 | Subject)", df)
