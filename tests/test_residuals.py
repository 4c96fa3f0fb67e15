"""Residual (R-side) covariance structures.

Three kinds of evidence:
- reference fits from nlme / glmmTMB (tests/reference/make_refs_resid.R and the
  shared ovary AR(1) case), through both front ends;
- for every structure, a dense brute force written independently here: the
  marginal covariance V = ZGZ' + R of each group is rebuilt from the *reported*
  parameters (ρ, φ, θ, var(e), cov(e#,e#)) and its Gaussian log likelihood must
  equal the fit's, and no direction in the reported parameters may improve it;
- bad input: clear errors before any tracing.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, lmm_case_ids, load_case, load_case_data
from scipy.optimize import minimize

import mejax
from mejax import DataError, Residuals, SpecError

RESID_CASES = lmm_case_ids(with_residuals=True)


def _residuals_of(case) -> Residuals:
    spec = dict(case["model"]["residuals"])
    group = spec.pop("group", None) or spec.pop("by_group", None)
    return Residuals(spec["type"], spec.get("order"), spec.get("t"), spec.get("by"), group)


def _reference_residual(ref) -> dict:
    """Residual parameters of a case by normalised label."""
    if "residual" in ref:
        return {k.replace(" ", ""): v for k, v in ref["residual"].items()}
    out = {"var(e)": next(r["estimate"] for r in ref["varcomp"] if r["group"] == "Residual")}
    if "ar1_rho" in ref:
        out["rho"] = ref["ar1_rho"]
    return out


def _name(r_name: str, res) -> str:
    """R's coefficient name as the fit spells it (Stata: _cons, c.a#c.b)."""
    if r_name in res.fixef.index:
        return r_name
    if r_name == "(Intercept)":
        return "_cons"
    return "c." + r_name.replace(":", "#c.")


def _check_against_reference(res, ref):
    assert res.converged
    assert res.nobs == ref["nobs"]
    assert abs(res.loglik - ref["loglik"]) < 1e-4
    for name, value in ref["fixef"].items():
        got, se = res.fixef[_name(name, res)], res.fixef_se[_name(name, res)]
        assert abs(got - value) <= 1e-4 * max(abs(value), se), name
    for name, value in ref["fixef_se"].items():
        assert abs(res.fixef_se[_name(name, res)] - value) / value < 0.01, name
    vc = res.varcomp
    for row in ref["varcomp"]:
        if row["group"] == "Residual":
            continue
        names = [_name(v, res) if v == "(Intercept)" else v for v in (row["var1"], row["var2"])]
        if names[1] is None:
            hit = (vc["var1"] == names[0]) & vc["var2"].isna()
        else:  # a covariance, named in either order
            pair = {names[0], names[1]}
            hit = vc.apply(lambda r, pair=pair: {r["var1"], r["var2"]} == pair, axis=1)
        got = vc[hit & (vc["group"] == row["group"])]["estimate"]
        assert len(got) == 1, row
        assert abs(got.iloc[0] - row["estimate"]) <= 1e-4 * abs(row["estimate"]), row
    resid = vc[vc["group"] == "Residual"]
    got = {label.replace(" ", ""): est for label, est in zip(resid["label"], resid["estimate"])}
    for name, value in _reference_residual(ref).items():
        assert name in got, f"{name} not in {list(got)}"
        assert abs(got[name] - value) <= 1e-4 * max(abs(value), 0.05), (name, got[name], value)


@pytest.mark.parametrize("case_id", RESID_CASES)
def test_formula_api_matches_reference(case_id):
    case = load_case(case_id)
    model = case["model"]
    res = mejax.mixed(model["formula"], load_case_data(case), reml=model["reml"],
                      residuals=_residuals_of(case))
    _check_against_reference(res, case["reference"])


@pytest.mark.parametrize("case_id", RESID_CASES)
def test_stata_api_matches_reference(case_id):
    case = load_case(case_id)
    res = mejax.stata(case["model"]["stata"], load_case_data(case))
    _check_against_reference(res, case["reference"])


# ---- dense brute force -----------------------------------------------------------------

def _panel(seed=3, groups=30, times=7, drop=0.15):
    """Random intercept + AR-ish errors, integer times with gaps, a group-level 'sex'."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        u = rng.normal(0, 1.0)
        e = 0.0
        for t in range(1, times + 1):
            e = 0.6 * e + rng.normal(0, 1.0)
            if rng.random() < drop and t > 2:
                continue
            x = rng.normal()
            rows.append({"id": g, "time": t, "x": x, "sex": "f" if g % 2 else "m",
                         "y": 1 + 0.5 * x + u + e * (1.5 if g % 2 else 1.0)})
    return pd.DataFrame(rows)


def _acf_from_ar(phi, n):
    """Autocorrelations of an AR(p) by solving the Yule–Walker equations directly."""
    p = len(phi)
    # unknowns rho_1..rho_p: rho_k = sum_j phi_j rho_|k-j|, rho_0 = 1
    a = np.eye(p)
    b = np.zeros(p)
    for k in range(1, p + 1):
        for j in range(1, p + 1):
            lag = abs(k - j)
            if lag == 0:
                b[k - 1] += phi[j - 1]
            else:
                a[k - 1, lag - 1] -= phi[j - 1]
    rho = [1.0] + list(np.linalg.solve(a, b))
    for k in range(p + 1, n):
        rho.append(sum(phi[j] * rho[k - 1 - j] for j in range(p)))
    return np.array(rho[:n])


def _resid_cov(kind, params, times, levels):
    """R for one group from the reported parameters (dict by label)."""
    d = np.abs(times[:, None] - times[None, :])
    var = params.get("var(e)")
    if kind == "ar":
        phi = [params["rho"]] if "rho" in params else [
            params[f"phi{k}"] for k in range(1, 10) if f"phi{k}" in params]
        acf = _acf_from_ar(phi, int(d.max()) + 1)
        return var * acf[d.astype(int)]
    if kind == "ma":
        theta = [1.0] + [params[f"theta{k}"] for k in range(1, 10) if f"theta{k}" in params]
        q = len(theta) - 1
        gamma = [sum(theta[j] * theta[j + k] for j in range(q + 1 - k)) for k in range(q + 1)]
        acf = np.array([g / gamma[0] for g in gamma] + [0.0] * int(d.max() + 1))
        return var * acf[d.astype(int)]
    if kind == "toeplitz":
        rho = [1.0] + [params[f"rho{k}"] for k in range(1, 10) if f"rho{k}" in params]
        acf = np.array(rho + [0.0] * int(d.max() + 1))
        return var * acf[d.astype(int)]
    if kind == "exchangeable":
        return var * np.where(d == 0, 1.0, params["rho"])
    if kind == "exponential":
        return var * params["rho"] ** d
    if kind in ("unstructured", "banded"):
        idx = [int(np.searchsorted(levels, t)) for t in times]
        lab = [f"e{int(levels[i])}" for i in idx]
        m = len(times)
        out = np.zeros((m, m))
        for a in range(m):
            for b in range(m):
                lo, hi = sorted((idx[a], idx[b]))
                key = (f"var({lab[a]})" if a == b else
                       f"cov(e{int(levels[lo])},e{int(levels[hi])})")
                out[a, b] = params.get(key, 0.0)
        return out
    raise AssertionError(kind)


def _dense_loglik(df, kind, sigma_u2, params_by, by_col=None):
    """ML log likelihood with β at its GLS value, from dense per-group V."""
    levels = np.unique(df["time"])
    pieces = []
    for _, g in df.groupby("id"):
        times = g["time"].to_numpy(float)
        if kind == "independent":
            var = np.array([params_by[s]["var(e)"] for s in g[by_col]])
            r = np.diag(var)
        else:
            key = g[by_col].iloc[0] if by_col else None
            r = _resid_cov(kind, params_by[key], times, levels)
        v = sigma_u2 * np.ones((len(g), len(g))) + r
        x = np.column_stack([np.ones(len(g)), g["x"].to_numpy()])  # (Intercept), x
        pieces.append((v, x, g["y"].to_numpy()))
    xtvx = sum(x.T @ np.linalg.solve(v, x) for v, x, _ in pieces)
    xtvy = sum(x.T @ np.linalg.solve(v, y) for v, x, y in pieces)
    beta = np.linalg.solve(xtvx, xtvy)
    ll = 0.0
    for v, x, y in pieces:
        r = y - x @ beta
        ll -= 0.5 * (np.linalg.slogdet(v)[1] + r @ np.linalg.solve(v, r)
                     + len(y) * np.log(2 * np.pi))
    return ll, beta


def _reported(res, by_col):
    """{by level or None: {label: value}} and the random-intercept variance."""
    vc = res.varcomp
    sigma_u2 = float(vc[vc["group"] == "id"]["estimate"].iloc[0])
    params: dict = {}
    for _, row in vc[vc["group"] == "Residual"].iterrows():
        label = row["label"]
        if by_col:
            level, _, label = label.partition(": ")
        else:
            level = None
        params.setdefault(level, {})[label] = row["estimate"]
    return sigma_u2, params


BRUTE = [
    ("ar 1, t(time)", "ar", None),
    ("ar 2, t(time)", "ar", None),
    ("ma 1, t(time)", "ma", None),
    ("ma 2, t(time)", "ma", None),
    ("toeplitz 2, t(time)", "toeplitz", None),
    ("exchangeable", "exchangeable", None),
    ("exponential, t(time)", "exponential", None),
    ("banded 1, t(time)", "banded", None),
    ("unstructured, t(time)", "unstructured", None),
    ("independent, by(sex)", "independent", "sex"),
    ("ar 1, t(time) by(sex)", "ar", "sex"),
    ("exchangeable, by(sex)", "exchangeable", "sex"),
]


@pytest.mark.parametrize("rspec, kind, by_col", BRUTE, ids=[b[0] for b in BRUTE])
def test_structure_matches_dense_brute_force(rspec, kind, by_col):
    df = _panel()
    if kind in ("unstructured", "banded"):
        df = _panel(groups=60, times=4, drop=0.1)
    res = mejax.mixed("y ~ x + (1 | id)", df, residuals=rspec)
    assert res.converged
    sigma_u2, params = _reported(res, by_col)
    ll, beta = _dense_loglik(df, kind, sigma_u2, params, by_col)
    assert abs(ll - res.loglik) < 1e-6
    np.testing.assert_allclose(beta, res.fixef.to_numpy(), rtol=1e-6, atol=1e-8)

    # no direction in the reported parameters improves the dense likelihood
    keys = [(lv, name) for lv in params for name in params[lv]]
    start = np.array([params[lv][name] for lv, name in keys])

    def negll(values):
        trial = {lv: dict(p) for lv, p in params.items()}
        for (lv, name), value in zip(keys, values[1:]):
            trial[lv][name] = value
        try:
            with np.errstate(all="ignore"):
                value = -_dense_loglik(df, kind, values[0], trial, by_col)[0]
        except np.linalg.LinAlgError:
            return np.inf
        return value if np.isfinite(value) else np.inf

    x0 = np.r_[sigma_u2, start]
    best = minimize(negll, x0, method="Nelder-Mead",
                    options={"xatol": 1e-7, "fatol": 1e-9, "maxfev": 400})
    assert -best.fun - res.loglik < 1e-5


def test_reml_with_ar1_matches_dense_restricted_likelihood():
    df = _panel()
    res = mejax.mixed("y ~ x + (1 | id)", df, reml=True, residuals="ar 1, t(time)")
    sigma_u2, params = _reported(res, None)
    ll, _ = _dense_loglik(df, "ar", sigma_u2, params)
    # REML adds -1/2 log|X'V⁻¹X| + p/2 log 2π to the ML likelihood at GLS β
    levels = np.unique(df["time"])
    xtvx = 0
    for _, g in df.groupby("id"):
        v = sigma_u2 + _resid_cov("ar", params[None], g["time"].to_numpy(float), levels)
        x = np.column_stack([g["x"].to_numpy(), np.ones(len(g))])
        xtvx = xtvx + x.T @ np.linalg.solve(v, x)
    reml = ll - 0.5 * np.linalg.slogdet(xtvx)[1] + np.log(2 * np.pi)
    assert abs(reml - res.loglik) < 1e-6


def test_three_level_model_with_ar1_matches_dense():
    df = _panel(groups=40)
    df["school"] = df["id"] // 5
    res = mejax.stata("mixed y x || school: || id:, residuals(ar 1, t(time))", df)
    assert res.converged
    vc = res.varcomp
    s2_school = float(vc[vc["group"] == "school"]["estimate"].iloc[0])
    s2_id = float(vc[vc["group"] == "id"]["estimate"].iloc[0])
    _, params = _reported(res, None)
    y, x = df["y"].to_numpy(), np.column_stack([df["x"], np.ones(len(df))])
    same_school = (df["school"].to_numpy()[:, None] == df["school"].to_numpy()[None, :])
    same_id = (df["id"].to_numpy()[:, None] == df["id"].to_numpy()[None, :])
    d = np.abs(df["time"].to_numpy()[:, None] - df["time"].to_numpy()[None, :])
    v = s2_school * same_school + same_id * (s2_id + params[None]["var(e)"] * params[None][
        "rho"] ** d)
    beta = np.linalg.solve(x.T @ np.linalg.solve(v, x), x.T @ np.linalg.solve(v, y))
    r = y - x @ beta
    ll = -0.5 * (np.linalg.slogdet(v)[1] + r @ np.linalg.solve(v, r) + len(y) * np.log(2 * np.pi))
    assert abs(ll - res.loglik) < 1e-6


# ---- front ends ---------------------------------------------------------------------------

PRODUCT_PAGE = [
    "mixed y x1 x2 i.a || id:,  residuals(ar 1, t(time))",
    "mixed y x1 x2 i.a || id:, residuals(exponential, t(time))",
    "mixed y x1 x2 i.a || id:, noconstant residuals(unstructured, t(time))",
]


@pytest.mark.parametrize("command", PRODUCT_PAGE)
def test_product_page_commands_run(command):
    df = _panel(groups=50, times=4, drop=0.0).rename(columns={"x": "x1"})
    rng = np.random.default_rng(0)
    df["x2"] = rng.normal(size=len(df))
    df["a"] = rng.integers(1, 4, size=len(df))
    res = mejax.stata(command, df)
    assert res.converged
    text = str(res.summary())
    assert "Residual: " in text and "var(e" in text
    assert list(res.fixef.index) == ["x1", "x2", "2.a", "3.a", "_cons"]


def test_python_spellings_agree():
    df = _panel()
    a = mejax.mixed("y ~ x + (1 | id)", df, residuals=Residuals("ar", 1, t="time"))
    b = mejax.mixed("y ~ x + (1 | id)", df, residuals={"type": "ar", "order": 1, "t": "time"})
    c = mejax.mixed("y ~ x + (1 | id)", df, residuals="ar 1, t(time)")
    d = mejax.stata("mixed y x || id:, residuals(ar 1, t(time))", df)
    for other in (b, c, d):
        assert abs(other.loglik - a.loglik) < 1e-9


def test_residual_only_model_reports_its_group():
    df = _panel(groups=50, times=4, drop=0.0)
    res = mejax.stata("mixed y x || id:, noconstant residuals(exchangeable)", df)
    assert list(res.groups["group"]) == ["id"]
    assert set(res.varcomp["group"]) == {"Residual"}
    assert "Residual: Exchangeable" in str(res.summary())


# ---- bad input ----------------------------------------------------------------------------

def test_duplicate_times_within_group():
    df = _panel()
    df.loc[df.index[1], "time"] = df.loc[df.index[0], "time"]
    with pytest.raises(DataError, match="repeated values within 'id'"):
        mejax.mixed("y ~ x + (1 | id)", df, residuals="ar 1, t(time)")


def test_non_integer_time_for_lag_structures():
    df = _panel()
    df["time"] = df["time"] + 0.5 * (df.index % 2)
    for rspec in ("ar 1, t(time)", "ma 1, t(time)", "toeplitz 1, t(time)", "banded 1, t(time)"):
        with pytest.raises(DataError, match="integer time variable"):
            mejax.mixed("y ~ x + (1 | id)", df, residuals=rspec)
    mejax.mixed("y ~ x + (1 | id)", df, residuals="exponential, t(time)")  # continuous: fine


@pytest.mark.parametrize("rspec", ["ar 7, t(time)", "ma 9, t(time)", "toeplitz 8, t(time)",
                                   "banded 7, t(time)"])
def test_order_larger_than_group_size(rspec):
    with pytest.raises(DataError, match="order is larger than the groups allow"):
        mejax.mixed("y ~ x + (1 | id)", _panel(), residuals=rspec)


def test_by_must_be_constant_within_group_for_correlated_structures():
    df = _panel()
    df["half"] = np.where(df["time"] > 3, "late", "early")
    with pytest.raises(DataError, match=re.escape("by(half) must be constant")):
        mejax.mixed("y ~ x + (1 | id)", df, residuals="ar 1, t(time) by(half)")
    mejax.mixed("y ~ x + (1 | id)", df, residuals="independent, by(half)")  # fine


def test_bad_python_spellings():
    with pytest.raises(SpecError, match="unknown residual structure"):
        Residuals("wiggly")
    with pytest.raises(SpecError, match="takes no order"):
        Residuals("exchangeable", 2)
    with pytest.raises(SpecError, match="residuals= must be"):
        mejax.mixed("y ~ x + (1 | id)", _panel(), residuals=3)
    with pytest.raises(DataError, match="not found"):
        mejax.mixed("y ~ x + (1 | id)", _panel(), residuals="ar 1, t(when)")


def test_crossed_effects_with_residuals_are_refused():
    df = _panel()
    df["rater"] = df.index % 5
    with pytest.raises(SpecError, match="vary within the residual groups"):
        mejax.mixed("y ~ x + (1 | id) + (1 | rater)", df, residuals="ar 1, t(time)")


def test_reference_data_exists():
    assert (REFERENCE / "data" / "ovary.csv").exists()


def test_near_singular_unstructured_is_not_converged():
    """Loblolly, quadratic in age: the first residual variance heads for zero (nlme's lme
    with corSymm + varIdent ends at var(e1) = 2e-7, log likelihood -91.670) and R̃'s
    condition number passes 1e13, where the computed log likelihood is rounding noise
    (mejax's -91.63 there; the dense log likelihood at the same estimates is -93.58). The fit
    must say so rather than look like an optimum."""
    df = mejax.datasets.load("loblolly")
    df = df.assign(occ=df.groupby("Seed")["age"].rank().astype(int), age2=df["age"] ** 2)
    with pytest.warns(mejax.ConvergenceWarning, match="near singular"):
        res = mejax.stata("mixed height age age2 || Seed:, residuals(unstructured, t(occ))",
                          df)
    assert not res.converged
    assert "convergence not achieved" in res.notes
