"""One result type: the linear preset and a GLMM read the same members from their reports.

What differs between ``mixed`` and ``melogit`` is in the fit's report
(:mod:`mejax.fit.lmm_report`, :mod:`mejax.fit.glmm_report`) and the family, never
in a subclass; each value here is checked against the fit's own definition
(log σ from σ², β in front of the parameter vector, the LR statistic from the two
log likelihoods) or against what R gives for the same model.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import mejax
from mejax.batch.kinds import kind_for
from mejax.families.gaussian import Gaussian
from mejax.fit.report import FitReport
from mejax.results.fit_result import FitResult


@pytest.fixture(scope="module")
def linear(sleepstudy):
    return mejax.mixed("Reaction ~ Days + (1 | Subject)", sleepstudy)


@pytest.fixture(scope="module")
def logistic():
    cbpp = mejax.datasets.load("cbpp")
    return mejax.stata("melogit incidence i.period || herd:, binomial(size) intmethod(laplace)",
                       cbpp)


def test_one_class_under_both_names():
    assert mejax.MixedResult is mejax.GlmmResult is FitResult
    assert FitResult.__subclasses__() == []


def test_the_linear_preset_reports_gaussian_identity(linear):
    report = linear.report
    assert isinstance(report, FitReport) and report.family == Gaussian()
    p = len(linear.fixef)
    # one layout: β, θ, then log σ_e
    np.testing.assert_allclose(linear.params[:p], linear.fixef.to_numpy())
    np.testing.assert_allclose(linear.params[p:-1], linear.theta)
    np.testing.assert_allclose(linear.params[-1], 0.5 * np.log(linear.sigma2))
    assert linear.integration is None and not linear.shows_integration
    assert linear.params_vcov is None and linear.aux.empty
    assert "versus" not in linear.lr_test
    with pytest.raises(AttributeError, match="ordinal"):
        _ = linear.cutpoints
    with pytest.raises(AttributeError, match="negative binomial"):
        _ = linear.dispersion
    # lme4: lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE)
    np.testing.assert_allclose(linear.loglik, -897.0393, atol=5e-4)
    assert repr(linear).startswith("<MixedResult ML nobs=180")


def test_a_glmm_reads_the_same_members(logistic):
    report = logistic.report
    p = len(logistic.fixef)
    np.testing.assert_allclose(logistic.params[:p], logistic.fixef.to_numpy())
    np.testing.assert_allclose(logistic.theta, logistic.params[p:p + 1])
    assert logistic.method == "Laplace" and logistic.nodes == 1
    assert logistic.shows_integration and logistic.sigma2 == 1.0
    # the inverse information is every SE's source
    np.testing.assert_allclose(logistic.fixef_se.to_numpy(),
                               np.sqrt(np.diag(logistic.params_vcov))[:p], rtol=1e-12)
    lr = logistic.lr_test
    stat = 2 * (logistic.loglik - report.base_loglik())
    assert lr["versus"] == "logistic model"
    np.testing.assert_allclose(lr["chi2"], stat, rtol=1e-12)
    np.testing.assert_allclose(lr["p"], 0.5 * special.chdtrc(1, stat), rtol=1e-12)
    # lme4: glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
    np.testing.assert_allclose(logistic.loglik, -92.02657, atol=5e-4)
    assert repr(logistic).startswith(
        "<GlmmResult Mixed-effects logistic regression (Laplace) nobs=56")


def test_batch_kind_and_predictions_follow_the_model(linear, logistic):
    assert type(kind_for(linear)).__name__ == "LmmKind"
    assert type(kind_for(logistic)).__name__ == "GlmmKind"
    assert linear.predictive.default_kind == "xb"
    assert logistic.predictive.default_kind == "mu"
