"""menl's REML with residual structures against R's nlme (tests/reference/make_refs_menl_reml.R).

nlme's REML for nonlinear fits: the residual correlation's and variance function's
parameters maximise the restricted likelihood of the linearised model, the random
effects' covariance is its ML one (nlme's PNLS step re-estimates it with ``RML = 0``),
and the restricted criterion is reported there. Tolerances of the issue; the variance
components' SEs against nlme's ``apVar`` (delta method from its log-sd scale). Three fits.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from menl_cases import REF, check_intercept_model_against_nlme

import mejax
from mejax.spec.residuals import Residuals


def case(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def check_against_nlme(res, ref: dict, level: str) -> None:
    """The shared nlme checks (menl_cases), REML, and σ² with its SE (2·σ²·SE(log σ))."""
    assert res.reml
    vc = check_intercept_model_against_nlme(res, ref, level)
    residual = "var(e)" if "var(e)" in vc.index else "sigma2"
    s2 = ref["sigma"] ** 2
    assert vc.loc[residual, "estimate"] == pytest.approx(s2, rel=0.02)
    assert vc.loc[residual, "std_err"] == pytest.approx(2 * s2 * ref["apvar_se"]["lSigma"],
                                                        rel=0.02)

def _orange_mean(p, d):
    return (p["b1"] + p["U"]) / (1 + jnp.exp(-(d["age"] - p["b2"]) / p["b3"]))


def test_ar1_reml_from_a_jax_function():
    """corAR1(form = ~occasion | Tree), method = "REML". ρ's SE is not compared: nlme's
    finite-difference apVar gives 0.200 or 0.210 for it under different controls at the
    same estimates (mejax: 0.211)."""
    c = case("reml_orange_ar1")
    df = mejax.datasets.load("orange")
    res = mejax.menl(_orange_mean, df.assign(occasion=df.groupby("Tree")["age"].rank()),
                     response="circumference", fixed={"b1": 192.0, "b2": 728.0, "b3": 353.0},
                     random={"U": "Tree"}, rescorrelation=Residuals("ar", 1, t="occasion"),
                     reml=True)
    ref = c["reference"]
    check_against_nlme(res, ref, "Tree")
    assert res.varcomp.set_index("var1").loc["rho", "estimate"] == \
        pytest.approx(ref["corfunc"]["Phi"], abs=2e-4)
    np.testing.assert_allclose(res.predict("yhat"), ref["fitted"], rtol=1e-5)
    assert "restricted" in str(res)


@pytest.fixture(scope="module")
def soybean():
    return mejax.datasets.load("soybean")


@pytest.mark.parametrize("name", ["reml_soybean_power", "reml_soybean_ctar1_power"])
def test_power_of_the_mean_reml(soybean, name):
    """varPower(~fitted(.)) by REML, alone and with corCAR1(~Time | Plot): δ (and ρ) are
    the restricted likelihood's, with nlme's SEs."""
    c = case(name)
    res = mejax.stata(c["stata"], soybean)
    ref = c["reference"]
    check_against_nlme(res, ref, "Plot")
    vc = res.varcomp.set_index("var1")
    assert vc.loc["delta", "estimate"] == pytest.approx(ref["varfunc"]["power"], rel=1e-3)
    assert vc.loc["delta", "std_err"] == \
        pytest.approx(ref["apvar_se"]["varStruct.power"], rel=0.02)
    if ref["corfunc"] is not None:
        assert vc.loc["rho", "estimate"] == pytest.approx(ref["corfunc"]["Phi"], abs=2e-4)
        assert vc.loc["rho", "std_err"] == pytest.approx(ref["corfunc_se"], rel=0.02)
