"""menl's ``resvariance(..., strata(v))``: the variance function's parameters per stratum with
one σ², against R's nlme ``varPower(form = ~fitted(.) | Variety)`` on Soybean (ML;
tests/reference/make_refs_menl_strata.R). One fit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from menl_cases import REF, check_intercept_model_against_nlme

import mejax


@pytest.fixture(scope="module")
def soybean():
    return mejax.datasets.load("soybean")


@pytest.fixture(scope="module")
def case():
    return json.loads((REF / "strata_soybean_power_ml.json").read_text())


def test_power_of_the_mean_per_variety_is_nlmes_varpower(soybean, case):
    ref = case["reference"]
    res = mejax.stata(case["stata"], soybean)
    assert not res.notes
    vc = check_intercept_model_against_nlme(res, ref, "Plot")
    assert vc.index[0] == "U"
    assert vc.loc["sigma2", "estimate"] == pytest.approx(ref["sigma"] ** 2, rel=0.02)
    for variety in ("F", "P"):
        row = vc.loc[f"delta(Variety={variety})"]
        assert row["estimate"] == pytest.approx(ref["varfunc"][variety], rel=2e-3)
        assert row["std_err"] == pytest.approx(ref["apvar_se"][f"varStruct.{variety}"],
                                               rel=0.02)
    assert "delta(Variety=P) |" in str(res)
    fitted = res.predict("yhat")
    np.testing.assert_allclose(fitted, ref["fitted"], rtol=1e-3)
    # standardized residuals: each row's own stratum's power of its fitted mean
    delta = soybean["Variety"].map({v: ref["varfunc"][v] for v in ("F", "P")}).to_numpy()
    expected = (soybean["weight"] - fitted) / (ref["sigma"] * np.abs(fitted) ** delta)
    np.testing.assert_allclose(res.predict("rstandard"), expected, rtol=5e-3)


COMMAND = ("menl weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
           "initial(b1 19 b2 55 b3 8) ")


@pytest.mark.parametrize("option, message", [
    ("resvariance(linear Time, strata(Variety))", r"strata\(\) is for power and exponential"),
    ("resvariance(power _yhat, strata(nope))", r"strata\(\) variable 'nope' not found"),
    ("resvariance(power _yhat, strata(Variety) strata(Year))", r"strata\(\) once"),
])
def test_bad_strata_are_named(soybean, option, message):
    with pytest.raises((mejax.SpecError, mejax.DataError), match=message):
        mejax.stata(COMMAND + option, soybean)
