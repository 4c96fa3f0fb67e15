"""margins / marginsplot against direct computation and emmeans references
(tests/reference/make_refs_margins.R)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import margins_data, margins_refs

import mejax
from mejax.inference._common import HypothesisError
from mejax.inference.margins import marginsplot, parse_numlist

data = pytest.fixture(scope="module")(margins_data)
refs = pytest.fixture(scope="module")(margins_refs)


@pytest.fixture(scope="module")
def additive(data):
    return mejax.stata("mixed y x1 x2 i.a || id:", data)


@pytest.fixture(scope="module")
def interaction(data):
    return mejax.stata("mixed y x1 i.a##c.x2 || id:", data)


def _direct(res, data, overrides):
    """mean(X_cf) b and sqrt(J V J') with X built by hand for y ~ x1 x2 i.a."""
    x1 = np.full(len(data), overrides["x1"]) if "x1" in overrides else data["x1"].to_numpy()
    x2 = np.full(len(data), overrides["x2"]) if "x2" in overrides else data["x2"].to_numpy()
    a = np.full(len(data), overrides["a"]) if "a" in overrides else data["a"].to_numpy()
    X = np.column_stack([x1, x2, a == 2, a == 3, np.ones(len(data))]).astype(float)
    J = X.mean(axis=0)
    b, V = res.fixef.to_numpy(), res.vcov.to_numpy()
    return J @ b, np.sqrt(J @ V @ J)


def test_margins_factor_direct(additive, data):
    table = additive.margins("a")["table"]
    assert list(table["level"]) == ["1", "2", "3"]
    for k, row in zip((1, 2, 3), table.itertuples()):
        est, se = _direct(additive, data, {"a": k})
        assert row.margin == pytest.approx(est, rel=1e-10)
        assert row.std_err == pytest.approx(se, rel=1e-8)


def test_margins_at_direct(additive, data):
    res = additive.margins(", at(x1=(0 1 2))")
    table = res["table"]
    for value, row in zip((0, 1, 2), table.itertuples()):
        est, se = _direct(additive, data, {"x1": value})
        assert row.margin == pytest.approx(est, rel=1e-10)
        assert row.std_err == pytest.approx(se, rel=1e-8)
    text = str(res)
    assert "1._at: x1 = 0" in text and "3._at: x1 = 2" in text
    assert "Delta-method" in text and "Margin" in text
    assert "Expression: Linear prediction, fixed portion, predict()" in text
    # the dict spelling gives the same numbers
    same = additive.margins(at={"x1": [0, 1, 2]})["table"]
    np.testing.assert_allclose(same["margin"], table["margin"])


def test_margins_match_emmeans(additive, refs):
    ref = refs["additive"]
    table = additive.margins("a")["table"]
    np.testing.assert_allclose(table["margin"], ref["margins_a"]["estimate"], rtol=1e-4)
    np.testing.assert_allclose(table["std_err"], ref["margins_a"]["se"], rtol=2e-3)
    np.testing.assert_allclose(table["ci_lower"], ref["margins_a"]["lower"], rtol=2e-3,
                               atol=1e-4)
    at = additive.margins(", at(x1=(0(1)2))")["table"]
    np.testing.assert_allclose(at["margin"], ref["margins_at_x1"]["estimate"], rtol=1e-4)
    np.testing.assert_allclose(at["std_err"], ref["margins_at_x1"]["se"], rtol=2e-3)
    dydx = additive.margins(", dydx(x1)")["table"]
    assert dydx["dydx"].iloc[0] == pytest.approx(ref["dydx_x1"]["estimate"], rel=1e-4)
    assert dydx["std_err"].iloc[0] == pytest.approx(ref["dydx_x1"]["se"], rel=2e-3)


def test_dydx_linear_is_coefficient(additive):
    res = additive.margins(", dydx(x1)")
    row = res["table"].iloc[0]
    assert row["dydx"] == pytest.approx(additive.fixef["x1"], rel=1e-7)
    assert row["std_err"] == pytest.approx(additive.fixef_se["x1"], rel=1e-6)
    assert "Average marginal effects" in str(res) and "dy/dx wrt:  x1" in str(res)
    fac = additive.margins(", dydx(a)")["table"]
    np.testing.assert_allclose(fac["dydx"], additive.fixef[["2.a", "3.a"]], rtol=1e-10)


def test_interaction_matches_emmeans(interaction, refs):
    ref = refs["interaction"]
    table = interaction.margins("a")["table"]
    np.testing.assert_allclose(table["margin"], ref["margins_a"]["estimate"], rtol=1e-4)
    np.testing.assert_allclose(table["std_err"], ref["margins_a"]["se"], rtol=2e-3)
    slopes = interaction.margins("a, dydx(x2)")["table"]
    np.testing.assert_allclose(slopes["dydx"], ref["dydx_x2_by_a"]["estimate"], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(slopes["std_err"], ref["dydx_x2_by_a"]["se"], rtol=2e-3)
    cells = interaction.margins("a, at(x2=(0 1))")
    np.testing.assert_allclose(cells["table"]["margin"], ref["margins_a_at_x2"]["estimate"],
                               rtol=1e-4)
    np.testing.assert_allclose(cells["table"]["std_err"], ref["margins_a_at_x2"]["se"],
                               rtol=2e-3)
    assert "_at#a" in str(cells)


def test_kroger_margins_use_t(data, refs):
    if "kroger" not in refs:
        pytest.skip("no Kenward-Roger reference (pbkrtest missing when generated)")
    try:
        res = mejax.stata(refs["kroger"]["stata"], data)
    except mejax.SpecError as err:
        pytest.skip(f"dfmethod not available: {err}")
    if getattr(res, "df", None) is None:
        pytest.skip("MixedResult.df not available")
    out = res.margins("a")
    ref = refs["kroger"]["margins_a"]
    table = out["table"]
    np.testing.assert_allclose(table["margin"], ref["estimate"], rtol=1e-4)
    np.testing.assert_allclose(table["std_err"], ref["se"], rtol=2e-3)
    np.testing.assert_allclose(out["df"], ref["df"], rtol=1e-2)
    np.testing.assert_allclose(table["ci_lower"], ref["lower"], rtol=5e-3)
    assert "P>|t|" in str(out)


def test_margins_errors(additive):
    with pytest.raises(HypothesisError, match="'x1' is a continuous variable.*at\\(x1="):
        additive.margins("x1")
    with pytest.raises(HypothesisError, match="'zz' not found"):
        additive.margins(", at(zz=1)")
    with pytest.raises(HypothesisError, match="level 7 of 'a' not found"):
        additive.margins(", at(a=7)")
    with pytest.raises(HypothesisError, match="unknown or unsupported option"):
        additive.margins("a, vce(unconditional)")


def test_numlist():
    assert parse_numlist("0(1)2") == [0.0, 1.0, 2.0]
    assert parse_numlist("1/3 5") == [1.0, 2.0, 3.0, 5.0]
    assert parse_numlist("0(.5)1") == [0.0, 0.5, 1.0]


def test_marginsplot(additive):
    from matplotlib.figure import Figure

    fig = marginsplot(additive.margins("a"))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "Predictive margins of a with 95% CIs" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    fig2 = marginsplot(additive.margins("a, at(x1=(0 1))"))
    assert len(fig2.axes[0].get_legend().get_texts()) == 3


def test_counterfactual_design_matches_fit(additive):
    from mejax.inference.counterfactual import design_matrix

    np.testing.assert_allclose(design_matrix(additive), additive.design.x)
