"""menl's ``rescorrelation(unstructured, t())``: free correlations of the occasions with one
common variance, against R's nlme ``corSymm(form = ~occ | id)`` (ML; simulated growth data
with unbalanced groups, tests/reference/make_refs_menl_corsymm.R). One fit.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from menl_cases import REF, check_intercept_model_against_nlme

import mejax
from mejax.cov.residual import ResidualStructure


@pytest.fixture(scope="module")
def case():
    return json.loads((REF / "corsymm_growth_ml.json").read_text())


@pytest.fixture(scope="module")
def fit(case):
    return mejax.stata(case["stata"], pd.read_csv(REF / case["data"]))


def test_matches_nlme_corsymm(fit, case):
    ref = case["reference"]
    assert not fit.notes
    vc = check_intercept_model_against_nlme(fit, ref, "id")
    assert vc.index[0] == "U"
    names = ["corr(e1,e2)", "corr(e1,e3)", "corr(e1,e4)", "corr(e2,e3)", "corr(e2,e4)",
             "corr(e3,e4)"]
    np.testing.assert_allclose(vc.loc[names, "estimate"], ref["correlations"], rtol=0.02)
    np.testing.assert_allclose(vc.loc[names, "std_err"], ref["correlation_se"], rtol=0.02)
    assert vc.loc["var(e)", "estimate"] == pytest.approx(ref["sigma"] ** 2, rel=0.02)
    table = str(fit)
    assert "Residual: Unstructured corr." in table and "corr(e3,e4) |" in table


def test_every_parameter_gives_a_correlation_matrix():
    """Unit diagonal and positive definite for any η; far-out η is flagged near singular."""
    structure = ResidualStructure("unstructured_correlation", 0, 1, 2, 4, ("1", "2", "3", "4"))
    eta = np.random.default_rng(1).normal(scale=3.0, size=structure.n_params())
    corr = np.asarray(structure.correlation_matrix(jnp.asarray(eta)))
    np.testing.assert_allclose(np.diag(corr), 1.0, atol=1e-12)
    assert np.linalg.eigvalsh(corr)[0] > 0
    arrays = {"r_mask": np.ones((1, 4)), "r_by_row": np.zeros((1, 4), np.int32),
              "r_by_group": np.zeros(1, np.int32), "r_pos": np.arange(4)[None]}
    assert structure.near_singular(np.zeros(6), arrays) == ""
    assert "near singular" in structure.near_singular(np.array([1e6, 0, 0, 0, 0, 0.0]), arrays)


def test_needs_the_occasions(fit):
    with pytest.raises(mejax.SpecError, match=r"rescorrelation\(unstructured, t\(varname\)\)"):
        mejax.stata("menl y = ({b1}+{U[id]})*(1-exp(-exp({b2})*time)), initial(b1 30 b2 -1) "
                    "rescorrelation(unstructured)", pd.DataFrame({"y": [1.0], "time": [1.0],
                                                                  "id": [1]}))
