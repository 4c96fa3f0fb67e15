"""menl's Laplace likelihood against lme4's nlmer and a brute-force integral.

On Orange the mean is linear in the tree effect, so Laplace's method is the exact
integral: nlmer (nAGQ = 1) and a numerical integral per tree (scipy's quad) must both agree
with mejax at the estimates. Adaptive quadrature on Orange with the effect on xmid
against a brute-force maximum likelihood from R; nested levels (plots within years)
against nlmer and the exact integral. Three compiled fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from menl_cases import ORANGE, REF, reference
from scipy import integrate, stats

import mejax


@pytest.fixture(scope="module")
def laplace():
    return mejax.stata(ORANGE + " intmethod(laplace)", mejax.datasets.load("orange"))


def test_orange_laplace_is_nlmers(laplace):
    ref = reference("nlmer_orange")
    assert laplace.converged and laplace.method_name == "laplace"
    assert "Integration      : Laplace" in str(laplace)
    assert laplace.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(laplace.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(laplace.varcomp["estimate"].to_numpy(),
                               [ref["re_var"]["Asym"], ref["sigma2"]], rtol=0.02)


def test_laplace_loglik_is_the_integral(laplace):
    """Σ_trees log ∫ Π_i N(y_i; f_i(b1 + u), σ²) N(u; 0, σ_u²) du by adaptive quadrature."""
    d = laplace.design
    b1, b2, b3 = laplace.fixef.to_numpy()
    var_u, s2 = laplace.varcomp["estimate"].to_numpy()
    age, y, tree = d.frame["age"].to_numpy(), d.y, np.asarray(d.arrays.codes[0])
    total = 0.0
    for g in np.unique(tree):
        a, yg = age[tree == g], y[tree == g]

        def integrand(u, a=a, yg=yg):
            f = (b1 + u) / (1 + np.exp(-(a - b2) / b3))
            return np.exp(np.sum(stats.norm.logpdf(yg, f, np.sqrt(s2)))
                          + stats.norm.logpdf(u, 0, np.sqrt(var_u)) + 25.0)

        value, _ = integrate.quad(integrand, -12 * np.sqrt(var_u), 12 * np.sqrt(var_u),
                                  epsabs=0, epsrel=1e-11, limit=200)
        total += np.log(value) - 25.0
    assert laplace.loglik == pytest.approx(total, abs=1e-6)


def test_laplace_refuses_what_it_cannot_do():
    soy = mejax.datasets.load("soybean")
    with pytest.raises(mejax.SpecError, match="Laplace likelihood is ML"):
        mejax.menl("weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                   "initial(b1 19 b2 55 b3 8) reml intmethod(laplace)", soy)
    with pytest.raises(mejax.SpecError, match="fitted mean"):
        mejax.menl("weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                   "initial(b1 19 b2 55 b3 8) resvariance(power _yhat) intmethod(laplace)", soy)
    with pytest.raises(mejax.SpecError, match=r"intmethod\(ghermite\): linearization, "):
        mejax.menl("weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                   "intmethod(ghermite)", soy)
    with pytest.raises(mejax.SpecError, match="quadrature likelihood is available for one"):
        mejax.menl("weight = ({b1}+{U[Year]}+{UU[Plot<Year]})/(1+exp(-(Time-{b2})/{b3})), "
                   "initial(b1 19 b2 55 b3 8) intmethod(mvagh)", soy)
    with pytest.raises(mejax.SpecError, match=r"intpoints\(0\) must be an integer"):
        mejax.menl("weight = ({b1}+{U[Plot]})/(1+exp(-(Time-{b2})/{b3})), "
                   "intmethod(mvaghermite) intpoints(0)", soy)


@pytest.fixture(scope="module")
def quadrature():
    """Orange with the effect on xmid (the mean is nonlinear in it), 7 points per tree."""
    case = json.loads((REF / "aghq_orange_xmid.json").read_text())
    return case["reference"], mejax.stata(case["stata"].replace("#", "7"),
                                           mejax.datasets.load("orange"))


def test_quadrature_is_the_brute_force_maximum(quadrature):
    """R: each tree's integral by integrate(), maximised by optim, SEs from numDeriv's
    Hessian (tests/reference/make_refs_menl_quadrature.R). lme4's nlmer has no quadrature."""
    ref, res = quadrature
    assert res.converged and res.method_name == "mvaghermite"
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(res.fixef, list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(res.fixef_se, list(ref["fixef_se"].values()), rtol=2e-3)
    np.testing.assert_allclose(res.varcomp["estimate"], [ref["var_u"], ref["sigma2"]],
                               rtol=1e-3)
    assert "Integration method: mvaghermite" in str(res) and "Integration pts.  =" in str(res)
    # Laplace is not exact here: linearised and Laplace likelihoods sit below the maximum
    assert ref["linearised_loglik"] < res.loglik - 0.02


def test_nested_laplace_is_nlmers_and_the_exact_integral():
    """Plots within years, a random Asym at both levels: nlmer's (Asym | Year) +
    (Asym | YearPlot), and, the mean being linear in the effects, the exact Gaussian
    marginal likelihood at the estimates (V = σ²I + σ²_year Z_y Z_y' + σ²_plot Z_p Z_p')."""
    ref = reference("nlmer_soybean_nested")
    res = mejax.menl("weight = ({b1}+{U[Year]}+{UU[Plot<Year]})/(1+exp(-(Time-{b2})/{b3})), "
                     "initial(b1 19 b2 55 b3 8) intmethod(laplace)",
                     mejax.datasets.load("soybean"))
    assert res.converged
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(res.fixef, list(ref["fixef"].values()), rtol=1e-3)
    var = dict(zip(res.varcomp["group"], res.varcomp["estimate"]))
    np.testing.assert_allclose([var["Plot<Year"], var["Year"], var["Residual"]],
                               [ref["re_var"]["Asym"], ref["re_var"]["Asym.1"],
                                ref["sigma2"]], rtol=0.02)
    d = res.design
    b1, b2, b3 = res.fixef.to_numpy()
    shape = 1 / (1 + np.exp(-(d.frame["Time"].to_numpy() - b2) / b3))
    cov = var["Residual"] * np.eye(d.nobs)
    for level, codes in zip(d.levels, d.arrays.codes):
        z = (np.asarray(codes)[:, None] == np.arange(int(np.max(codes)) + 1)) * shape[:, None]
        cov += var[level.name] * z @ z.T
    exact = stats.multivariate_normal(b1 * shape, cov).logpdf(d.y)
    assert res.loglik == pytest.approx(exact, abs=1e-6)
    assert res.predict("yhat").shape == (d.nobs,)
