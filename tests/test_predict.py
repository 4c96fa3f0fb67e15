"""BLUPs with standard errors, predictions and ICCs against lme4 / nlme / dense R references.

References: tests/reference/make_refs_predict.R (cases/predict_*.json). BLUPs and
their SEs must agree within 1e-4 relative; ICCs, their delta-method SEs and
logit-scale intervals likewise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_case_data

import mejax
from mejax.inference.icc import icc_title, render_icc
from mejax.spec.model import DataError, SpecError

TOL = 1e-4
BLUP_CASES = ["predict_sleepstudy_reml", "predict_pastes_nested_ml",
              "predict_sleepstudy_intercept_reml", "predict_penicillin_crossed_reml",
              "predict_sleepstudy_ar1_ml"]
_FITS: dict[str, tuple] = {}


def _fit(case_id: str):
    if case_id not in _FITS:
        case = load_case(case_id)
        model = case["model"]
        data = load_case_data(case)
        result = mejax.mixed(model["formula"], data, reml=model["reml"],
                             residuals=model.get("residuals"))
        _FITS[case_id] = (case, data, result)
    return _FITS[case_id]


def _close(got, want, tol: float = TOL) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = np.maximum(np.abs(want), 1e-3 * np.max(np.abs(want)))
    assert np.max(np.abs(got - want) / scale) < tol


def _lme4_names(table: pd.DataFrame, group: str) -> list[str]:
    """Row names as lme4 writes them: interaction levels joined by ':' in label order."""
    if isinstance(table.index, pd.MultiIndex):
        names = list(table.index.names)
        order = [names.index(v) for v in group.split(":")]
        return [":".join(str(key[i]) for i in order) for key in table.index]
    return [str(v) for v in table.index]


@pytest.mark.parametrize("case_id", BLUP_CASES)
def test_blups_and_standard_errors(case_id):
    case, _, res = _fit(case_id)
    ref = case["reference"]
    assert abs(res.loglik - ref["loglik"]) < 1e-4
    cond = res.ranef(se_type="conditional")
    comp = res.ranef(se_type="comparative")
    for term in ref["terms"]:
        table, table_comp = cond[term["group"]], comp[term["group"]]
        rows = pd.Index(_lme4_names(table, term["group"])).get_indexer(term["levels"])
        assert (rows >= 0).all()
        for effect in np.atleast_1d(term["effects"]):
            _close(table[effect].to_numpy()[rows], term[f"b_{effect}"])
            _close(table[f"se_{effect}"].to_numpy()[rows], term[f"se_cond_{effect}"])
            _close(table_comp[f"se_{effect}"].to_numpy()[rows], term[f"se_comp_{effect}"])
            if f"se_lme4_{effect}" in term:  # lme4's own condVar
                _close(table[f"se_{effect}"].to_numpy()[rows], term[f"se_lme4_{effect}"])
    if "fitted" in ref:
        _close(res.predict("fitted"), ref["fitted"], 1e-6)


def test_in_sample_predictions():
    case, data, res = _fit("predict_sleepstudy_reml")
    ref = case["reference"]
    _close(res.predict("xb"), ref["xb"], 1e-6)
    resid = res.predict("residuals")
    np.testing.assert_allclose(resid, ref["residuals"], atol=1e-4)
    np.testing.assert_allclose(res.predict("rstandard"), resid / np.sqrt(res.sigma2))
    fitted = res.predict("fitted")
    np.testing.assert_allclose(fitted + resid, data["Reaction"])
    x = res.design.x
    want = np.sqrt(np.einsum("ij,jk,ik->i", x, res.vcov.to_numpy(), x))
    np.testing.assert_allclose(res.predict("stdp"), want)
    reff = res.predict("reffects")
    assert list(reff.columns) == ["Subject: (Intercept)", "Subject: Days"]
    blups = res.ranef(se=False)["Subject"]
    np.testing.assert_allclose(reff["Subject: Days"],
                               blups["Days"].reindex(data["Subject"]).to_numpy())
    assert list(blups.columns) == ["(Intercept)", "Days"]


def test_new_data_with_unseen_group():
    case, _, res = _fit("predict_sleepstudy_reml")
    ref = case["reference"]
    new = pd.DataFrame(ref["new_data"])
    new["Subject"] = new["Subject"].astype(int)  # the estimation data read it as integers
    _close(res.predict("fitted", data=new), ref["new_fitted"], 1e-6)
    _close(res.predict("xb", data=new), ref["new_xb"], 1e-6)
    reff = res.predict("reffects", data=new)
    assert (reff.iloc[2] == 0).all()  # subject 999 was not in the estimation sample
    stdp = res.predict("stdp", data=new.drop(columns="Subject"))  # the fixed part only
    assert np.all(stdp > 0)
    with_missing = new.assign(Days=[0.0, np.nan, 9.0, 3.0])
    out = res.predict("fitted", data=with_missing)
    assert np.isnan(out.iloc[1]) and np.isfinite(out.drop(index=1)).all()


def test_new_data_factor_levels_follow_estimation_sample():
    _, data, _ = _fit("predict_sleepstudy_reml")
    frame = data.assign(week=np.where(data["Days"] < 5, "first", "second"))
    res = mejax.mixed("Reaction ~ week + (1 | Subject)", frame, reml=True)
    new = pd.DataFrame({"week": ["second"], "Subject": [308]})
    want = res.fixef["(Intercept)"] + res.fixef["weeksecond"]
    assert res.predict("xb", data=new).iloc[0] == pytest.approx(want)
    with pytest.raises(DataError, match="does not occur in the estimation sample"):
        res.predict("xb", data=pd.DataFrame({"week": ["third"], "Subject": [308]}))


def test_stata_rule_for_standard_errors():
    case, data, res = _fit("predict_sleepstudy_reml")
    st = mejax.stata("mixed Reaction Days || Subject: Days, covariance(unstructured) reml", data)
    term = case["reference"]["terms"][0]
    table = st.ranef()["Subject"]  # Stata after REML: comparative standard errors
    rows = pd.Index([str(v) for v in table.index]).get_indexer(term["levels"])
    _close(table["se_Days"].to_numpy()[rows], term["se_comp_Days"])
    _close(table["se__cons"].to_numpy()[rows], term["se_comp_(Intercept)"])


@pytest.mark.parametrize("case_id", ["predict_pastes_nested_ml",
                                     "predict_sleepstudy_intercept_reml"])
def test_icc(case_id):
    case, _, res = _fit(case_id)
    ref = case["reference"]
    table = res.icc()
    assert list(table["level"]) == list(np.atleast_1d(ref["icc_levels"]))  # R unboxes length 1
    for (_, row), want in zip(table.iterrows(), ref["icc"]):
        for key in ("icc", "std_err", "ci_lower", "ci_upper"):
            assert row[key] == pytest.approx(want[key], rel=TOL), key


def test_icc_stata_front_end_and_rendering():
    case, data, _ = _fit("predict_pastes_nested_ml")
    res = mejax.stata(case["model"]["stata"], data)
    table = res.icc()
    assert list(table["level"]) == ["batch", "cask|batch"]
    assert table["icc"].iloc[1] == pytest.approx(case["reference"]["icc"][1]["icc"], rel=TOL)
    text = render_icc(table, res.level, icc_title(res))
    assert text.splitlines()[1] == "Intraclass correlation"
    assert "cask|batch |" in text and "[95% conf. interval]" in text
    _, _, covariate = _fit("predict_sleepstudy_intercept_reml")
    assert icc_title(covariate) == "Residual intraclass correlation"


@pytest.mark.parametrize("case_id, match", [
    ("predict_sleepstudy_reml", "random-intercept models"),
    ("predict_penicillin_crossed_reml", "nested"),
    ("predict_sleepstudy_ar1_ml", "residuals"),
])
def test_icc_refused_where_stata_refuses(case_id, match):
    _, _, res = _fit(case_id)
    with pytest.raises(SpecError, match=match):
        res.icc()


def test_bad_input():
    _, data, res = _fit("predict_sleepstudy_reml")
    with pytest.raises(SpecError, match="kind must be one of"):
        res.predict("blup")
    with pytest.raises(SpecError, match="se_type"):
        res.ranef(se_type="posterior")
    with pytest.raises(DataError, match="'Subject'"):
        res.predict("fitted", data=data.drop(columns="Subject"))
    with pytest.raises(DataError, match="'Reaction'"):
        res.predict("residuals", data=data.drop(columns="Reaction"))
    with pytest.raises(DataError, match="DataFrame"):
        res.predict("xb", data=data.to_numpy())


def test_nested_groups_on_new_data():
    case, data, _ = _fit("predict_pastes_nested_ml")
    res = mejax.stata(case["model"]["stata"], data)
    new = pd.DataFrame({"batch": ["A", "A", "Z"], "cask": ["a", "q", "a"]})
    reff = res.predict("reffects", data=new)
    blups = res.ranef(se=False)
    assert reff["batch: _cons"].tolist() == [blups["batch"].loc["A", "_cons"]] * 2 + [0.0]
    assert reff["cask: _cons"].tolist() == [blups["cask"].loc[("A", "a"), "_cons"], 0.0, 0.0]
    fitted = res.predict("fitted", data=new)
    np.testing.assert_allclose(fitted, res.fixef["_cons"] + reff.sum(axis=1))


def test_residual_structure_without_random_effects():
    case = load_case("lmm_resid_unstructured_orthodont_ml")
    res = mejax.stata(case["model"]["stata"], load_case_data(case))
    assert res.ranef() == {}
    np.testing.assert_allclose(res.predict("fitted"), res.predict("xb"))
    # whitened residuals: unit variance on average
    assert np.mean(res.predict("rstandard") ** 2) == pytest.approx(1.0, rel=0.05)
