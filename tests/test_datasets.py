"""Every bundled data set against its source's documented summary: rows, columns, factors.

Levels and counts are those of the R packages' data sets (lme4, nlme, mlmRev, MASS,
ordinal; checked with R 4.2); no model is fitted here.
"""

from __future__ import annotations

import pandas as pd
import pytest

import mejax
from mejax.datasets import SCHEMAS

LETTERS = [chr(ord("A") + i) for i in range(26)]

# name -> (rows, columns, {factor: (number of levels, first levels, ordered)})
DOCUMENTED = {
    "sleepstudy": (180, ["Reaction", "Days", "Subject"],
                   {"Subject": (18, [308, 309, 310], False)}),
    "penicillin": (144, ["diameter", "plate", "sample"],
                   {"plate": (24, ["a", "b", "c"], False), "sample": (6, LETTERS[:6], False)}),
    "pastes": (60, ["strength", "batch", "cask", "sample"],
               {"batch": (10, LETTERS[:10], False), "cask": (3, ["a", "b", "c"], False),
                "sample": (30, ["A:a", "A:b", "A:c", "B:a"], False)}),
    "orthodont": (108, ["distance", "age", "Subject", "female", "Sex"],
                  {"Subject": (27, ["M16", "M05", "M02"], True),
                   "Sex": (2, ["Male", "Female"], False)}),
    "dyestuff2": (30, ["Batch", "Yield"], {"Batch": (6, LETTERS[:6], False)}),
    "ovary": (308, ["Mare", "Time", "follicles", "t", "sin1", "cos1"],
              {"Mare": (11, [4, 2, 11, 7], True)}),
    "cbpp": (56, ["herd", "incidence", "size", "period"],
             {"herd": (15, [1, 2, 3], False), "period": (4, [1, 2, 3, 4], False)}),
    "contraception": (1934, ["district", "c_use", "urban", "age", "child1", "child2", "child3",
                             "livch"],
                      {"district": (60, [1, 2, 3], False),
                       "livch": (4, ["0", "1", "2", "3+"], False)}),
    "epilepsy": (236, ["y", "trt", "base", "age", "V4", "subject", "period", "lbase", "lage",
                       "lbase_trt"], {}),
    "wine": (72, ["rating", "warm", "contact", "judge"], {"judge": (9, [1, 2, 3], False)}),
    "insteval": (73421, ["s", "d", "dept", "service", "studage", "lectage", "y"],
                 {"s": (2972, [1, 2, 3], False), "d": (1128, [1, 6, 7, 8], False),
                  "dept": (14, [15, 5, 10, 12], False), "service": (2, [0, 1], False),
                  "studage": (4, [2, 4, 6, 8], True), "lectage": (6, [1, 2, 3], True)}),
    "apiclus2": (126, ["dnum", "snum", "stype", "sch_wide", "awards", "ell", "meals",
                       "mobility", "api00", "enroll", "fpc1", "fpc2", "w_district", "w_school",
                       "pw"], {"stype": (3, ["E", "H", "M"], False)}),
    "orange": (35, ["Tree", "age", "circumference"], {"Tree": (5, [3, 1, 5, 2, 4], True)}),
    "soybean": (412, ["Plot", "Variety", "Year", "Time", "weight"],
                {"Plot": (48, ["1988F4", "1988F2", "1988F1"], True),
                 "Variety": (2, ["F", "P"], False), "Year": (3, [1988, 1989, 1990], False)}),
    "loblolly": (84, ["height", "age", "Seed"], {"Seed": (14, [329, 327, 325], True)}),
    "theoph": (132, ["Subject", "Wt", "Dose", "Time", "conc"],
               {"Subject": (12, [6, 7, 8, 11], True)}),
}


def test_every_bundled_data_set_is_documented_here():
    assert sorted(DOCUMENTED) == mejax.datasets.names() == sorted(SCHEMAS)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_summary(name):
    rows, columns, factors = DOCUMENTED[name]
    df = mejax.datasets.load(name)
    assert df.shape == (rows, len(columns))
    assert list(df.columns) == columns
    categorical = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    assert sorted(categorical) == sorted(factors)
    for col, (n_levels, first, ordered) in factors.items():
        cats = list(df[col].cat.categories)
        assert len(cats) == n_levels and cats[: len(first)] == first
        assert df[col].cat.ordered == ordered
        assert df[col].notna().all()  # every value is one of the levels
    numeric = [c for c in columns if c not in factors]
    assert all(pd.api.types.is_numeric_dtype(df[c]) for c in numeric)


def test_documented_counts():
    """Tables R prints for the sources (table(cbpp$period), table(Contraception$livch), ...)."""
    cbpp = mejax.datasets.load("cbpp")
    assert cbpp["period"].value_counts(sort=False).tolist() == [15, 14, 14, 13]
    assert cbpp["incidence"].sum() == 99
    contraception = mejax.datasets.load("contraception")
    assert contraception["livch"].value_counts(sort=False).tolist() == [530, 356, 305, 743]
    orthodont = mejax.datasets.load("orthodont")
    assert orthodont["Sex"].value_counts(sort=False).tolist() == [64, 44]
    assert (orthodont["Sex"] == "Female").eq(orthodont["female"] == 1).all()
    assert mejax.datasets.load("epilepsy")["subject"].nunique() == 59
    insteval = mejax.datasets.load("insteval")
    assert insteval["service"].value_counts(sort=False).tolist() == [41638, 31783]
    assert insteval["studage"].value_counts(sort=False).tolist() == [15406, 16888, 22107, 19020]


def test_factor_levels_order_the_design():
    """A bundled factor is a factor in a formula: period gets one coefficient per level."""
    from mejax.spec.design import build_design
    from mejax.spec.formula import parse_formula

    cbpp = mejax.datasets.load("cbpp")
    design = build_design(parse_formula("incidence ~ period + (1 | herd)"), cbpp)
    assert design.x_names == ["(Intercept)", "period2", "period3", "period4"]
    ovary = mejax.datasets.load("ovary")
    design = build_design(parse_formula("follicles ~ sin1 + (1 | Mare)"), ovary)
    assert design.re_terms[0].n_levels == 11


def test_stata_lines_read_categoricals_as_factors_or_numbers():
    """i.period is a factor; plain period is its numeric value, as a Stata variable is."""
    from mejax.api_checks import stata_numeric_columns
    from mejax.spec.stata import parse_stata

    cbpp = mejax.datasets.load("cbpp")
    spec = parse_stata("melogit incidence period || herd:, binomial(size)")
    numeric = stata_numeric_columns(cbpp, spec)
    assert numeric["period"].dtype == float and numeric["period"].tolist() == \
        cbpp["period"].astype(int).tolist()
    assert isinstance(numeric["herd"].dtype, pd.CategoricalDtype)  # a level variable: kept
    spec = parse_stata("melogit incidence i.period || herd:, binomial(size)")
    assert isinstance(stata_numeric_columns(cbpp, spec)["period"].dtype, pd.CategoricalDtype)


def test_lme4_textbook_cbpp_formula_fits_the_factor_model():
    """``period`` is a factor, so lme4's own formula gives lme4's model, not a linear trend."""
    from conftest import load_case

    cbpp = mejax.datasets.load("cbpp")
    fit = mejax.melogit("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                        method="laplace")
    assert list(fit.fixef.index) == ["(Intercept)", "period2", "period3", "period4"]
    reference = load_case("glmm_cbpp_binomial_laplace")["reference"]["loglik"]
    # lme4's Laplace value differs from Stata's (mejax's) by 2.8e-4 here (make_refs_glmm.R)
    assert fit.loglik == pytest.approx(reference, abs=5e-4)
    trend = mejax.stata("melogit incidence period || herd:, binomial(size) laplace", cbpp)
    assert list(trend.fixef.index) == ["period", "_cons"]  # Stata's plain period: a number
