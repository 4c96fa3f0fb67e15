"""menl's MA, Toeplitz, banded and by() residual structures.

Against R's nlme where it has the structure (tests/reference/make_refs_menl_corr.R):
``rescorrelation(ma 1)`` is corARMA(q = 1), ``rescovariance(independent, by())``
varIdent. Where nlme
has none (Toeplitz 2, banded covariance and correlation, AR(1) with its own ρ and σ per
by-level), against a dense
numpy computation of the linearised model (tests/menl_dense.py): the log likelihood, β̂
and BLUPs at mejax's estimates, no gain from a derivative-free search, and SEs from a
finite-difference information. Six fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from menl_cases import REF, check_intercept_model_against_nlme
from menl_dense import DenseLinearised
from scipy.linalg import toeplitz

import mejax
from mejax.fit.lindstrom_bates import fit_lindstrom_bates, residual_conditioning

ORANGE = ("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})), "
          "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353) ")
LOBLOLLY = ("menl height = {b1}+{U[Seed]}+({b2}-{b1}-{U[Seed]})*exp(-exp({b3})*age), "
            "initial(b1 103 b2 -8.5 b3 -3.3) ")


def reference(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())["reference"]


@pytest.fixture(scope="module")
def orange():
    df = mejax.datasets.load("orange")
    return df.assign(occasion=df.groupby("Tree")["age"].rank(),
                     half=(df["Tree"].astype(int) > 3).astype(int))


@pytest.fixture(scope="module")
def loblolly():
    df = mejax.datasets.load("loblolly")
    return df.assign(occ=df.groupby("Seed")["age"].rank())


def check_against_nlme(res, ref: dict) -> None:
    check_intercept_model_against_nlme(res, ref, "Tree")


def test_ma1_is_nlmes_corarma(orange):
    """Toeplitz 1 is this model with ρ1 = θ/(1 + θ²) (checked once; not refitted here)."""
    ref = reference("corr_orange_ma1")
    ma = mejax.stata(ORANGE + "rescorrelation(ma 1, t(occasion))", orange)
    check_against_nlme(ma, ref)
    vc = ma.varcomp.set_index("var1")
    theta = ref["corfunc"]["Theta1"]
    assert vc.loc["theta1", "estimate"] == pytest.approx(theta, abs=2e-4)
    assert vc.loc["theta1", "std_err"] == pytest.approx(ref["corfunc_se"], rel=0.02)
    assert vc.loc["var(e)", "estimate"] == pytest.approx(ref["sigma"] ** 2, rel=0.02)
    assert "Residual: MA(1)" in str(ma)


def test_independent_by_is_varident(orange):
    """rescovariance(independent, by(half)): a residual variance per half of the trees."""
    ref = reference("corr_orange_independent_by")
    res = mejax.stata(ORANGE + "rescovariance(independent, by(half))", orange)
    check_against_nlme(res, ref)
    resid = res.varcomp[res.varcomp["group"] == "Residual"].set_index("by")["estimate"]
    s2 = ref["sigma"] ** 2
    np.testing.assert_allclose(resid.loc[["0", "1"]], [s2, s2 * ref["varfunc"]["1"] ** 2],
                               rtol=0.02)
    assert "by half" in str(res)


def _groups(res, column: str, frame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group index in ranef()'s order, and those BLUPs."""
    ranef = res.ranef()[column]["U"]
    index = {str(k): i for i, k in enumerate(ranef.index)}
    return np.array([index[str(g)] for g in frame[column]]), ranef.to_numpy()


def check_dense(res, mean, frame, column: str, residual_cov) -> None:
    """mejax's estimates are the dense linearised model's ML estimates (module docstring)."""
    assert res.converged
    groups, blups = _groups(res, column, frame)
    dense = DenseLinearised(mean, res.design.y, groups, res.fixef.to_numpy(), blups,
                            residual_cov)
    values = res.varcomp["estimate"].to_numpy()
    loglik, beta, dense_blups = dense.gls(values)
    assert loglik == pytest.approx(res.loglik, abs=1e-6)
    np.testing.assert_allclose(beta, res.fixef, rtol=1e-6)
    np.testing.assert_allclose(dense_blups, blups, rtol=1e-5, atol=1e-6)
    best, where = dense.search_gain(values, lambda v: v, lambda f: f)
    assert best - loglik < 1e-6
    np.testing.assert_allclose(where, values, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(dense.standard_errors(values), res.varcomp["std_err"],
                               rtol=0.02)


def _orange_mean(frame):
    age = frame["age"].to_numpy()
    return lambda b, u: (b[0] + u) / (1 + np.exp(-(age - b[1]) / b[2]))


def test_toeplitz2_dense(orange):
    occasion = orange["occasion"].to_numpy().astype(int) - 1

    def cov(values, rows):
        column = np.zeros(7)
        column[:3] = [1.0, *values[:2]]
        t = occasion[rows]
        return values[2] * toeplitz(column)[np.ix_(t, t)]

    res = mejax.stata(ORANGE + "rescorrelation(toeplitz 2, t(occasion))", orange)
    assert list(res.varcomp["var1"])[1:] == ["rho1", "rho2", "var(e)"]
    check_dense(res, _orange_mean(orange), orange, "Tree", cov)


def test_ar1_by_dense(orange):
    """rescorrelation(ar 1, by(half)): its own ρ and var(e) in each half of the trees."""
    occasion = orange["occasion"].to_numpy().astype(int) - 1
    half = orange["half"].to_numpy()

    def cov(values, rows):
        rho, s2 = values[2 * half[rows[0]]:2 * half[rows[0]] + 2]
        t = occasion[rows]
        return s2 * rho ** np.abs(t[:, None] - t[None, :])

    res = mejax.stata(ORANGE + "rescorrelation(ar 1, t(occasion) by(half))", orange)
    assert list(res.varcomp["by"])[1:] == ["0", "0", "1", "1"]
    assert "0: rho" in str(res) and "by half" in str(res)
    check_dense(res, _orange_mean(orange), orange, "Tree", cov)


def test_banded1_dense(loblolly):
    """rescovariance(banded 1, t(occ)): six variances and the five lag-one covariances."""
    occ = loblolly["occ"].to_numpy().astype(int) - 1
    age = loblolly["age"].to_numpy()

    def cov(values, rows):
        full = np.diag(values[:6]) + np.diag(values[6:], 1) + np.diag(values[6:], -1)
        return full[np.ix_(occ[rows], occ[rows])]

    res = mejax.stata(LOBLOLLY + "rescovariance(banded 1, t(occ))", loblolly)
    check_dense(res, lambda b, u: b[0] + u + (b[1] - b[0] - u) * np.exp(-np.exp(b[2]) * age),
                loblolly, "Seed", cov)


def test_banded_correlation_dense(loblolly):
    """rescorrelation(banded 2, t(occ)): the correlations within two occasions free, the
    others zero, unit diagonal and one variance (Stata's menl; nlme has no banded
    correlation), rows corr(e1,e2), corr(e1,e3), corr(e2,e3), corr(e2,e4), .., var(e)."""
    occ = loblolly["occ"].to_numpy().astype(int) - 1
    pairs = [(i, j) for i in range(6) for j in range(i + 1, min(i + 3, 6))]

    def cov(values, rows):
        full = np.eye(6)
        for (i, j), value in zip(pairs, values):
            full[i, j] = full[j, i] = value
        return values[-1] * full[np.ix_(occ[rows], occ[rows])]

    age = loblolly["age"].to_numpy()
    res = mejax.stata(LOBLOLLY + "rescorrelation(banded 2, t(occ))", loblolly)
    assert list(res.varcomp["var1"])[1:] == [f"corr(e{i + 1},e{j + 1})" for i, j in pairs] + \
        ["var(e)"]
    assert "Banded corr.(2)" in str(res)
    check_dense(res, lambda b, u: b[0] + u + (b[1] - b[0] - u) * np.exp(-np.exp(b[2]) * age),
                loblolly, "Seed", cov)
    with pytest.raises(mejax.SpecError, match=r"rescorrelation\(banded #, t\(varname\)\)"):
        mejax.stata(LOBLOLLY + "rescorrelation(banded 2)", loblolly)


def test_near_singular_unstructured_is_not_converged(loblolly):
    """Unstructured R with the effect on lrc drifts to a near-singular R̃ (condition number
    ~1e12) from the default start: the log likelihood there is rounding noise (the dense
    model gives another value at the same estimates), so the fit must not call itself
    converged and must say why. nlme's corSymm + varIdent optimum (var(lrc) ≈ 0, condition
    number 3.8e3; make_refs_menl_unstructured.R) is a fixed point of the same iteration:
    started there, it stays, at nlme's log likelihood."""
    cmd = ("menl height = {b1}+({b2}-{b1})*exp(-exp({b3}+{U[Seed]})*age), "
           "initial(b1 103 b2 -8.5 b3 -3.3) rescovariance(unstructured, t(occ))")
    with pytest.warns(mejax.ConvergenceWarning, match="near singular"):
        res = mejax.stata(cmd, loblolly)
    assert not res.converged
    assert any("near singular" in note and "condition number" in note for note in res.notes)
    assert "convergence not achieved: the residual covariance" in str(res)

    ref = reference("unstructured_loblolly_lrc_ml")
    relative = np.array(ref["residual_cov"]) / ref["residual_cov"][0][0]
    low = np.linalg.cholesky(relative)
    rows, cols = np.tril_indices(6)  # the factor's entries, (0, 0) fixed at one
    eta = np.where(rows == cols, np.log(np.abs(low[rows, cols])), low[rows, cols])[1:]
    model = res.design.model
    us0 = tuple(np.zeros((m, len(names))) for m, names in zip(model.n_groups, model.effects))
    fit = fit_lindstrom_bates(np.array(list(ref["fixef"].values())), us0,
                              np.concatenate([[1e-3], eta]), np.zeros(0), res.design.arrays,
                              model)
    assert bool(fit.converged)
    assert float(fit.loglik) == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.beta, list(ref["fixef"].values()), rtol=1e-4)
    assert float(fit.sigma2) == pytest.approx(ref["residual_cov"][0][0], rel=1e-3)
    assert not residual_conditioning(fit.theta, res.design.arrays, model)
