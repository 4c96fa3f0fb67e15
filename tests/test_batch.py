"""Batch fits of linear mixed models: equal to one-by-one fits, per-fit codes, bad input.

All sleepstudy batches here use chunks of 8 fits, so the file compiles the vmapped
fit once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.batch.engine import chunk_size_for
from mejax.batch.lmm import LmmKind
from mejax.batch.result import BAD_INPUT, CONVERGED

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return mejax.mixed(FORMULA, sleepstudy)


@pytest.fixture(scope="module")
def responses(fit):
    return fit.simulate(6, seed=11)


@pytest.fixture(scope="module")
def batch(fit, responses):
    return fit.refit_batch(responses)


def _one_by_one(data, formula, response, y, **kwargs):
    """A single fit and its estimates under the batch frame's names (no SEs computed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = mejax.mixed(formula, data.assign(**{response: y}), **kwargs)
    return single, LmmKind().point_estimates(single)


def test_point_estimates_follow_varcomp():
    """Batch column names and order are varcomp's (its SEs replaced to skip the Hessian).

    sample (6 levels) comes first in the formula, plate (24) first in the blocks.
    """
    fit = mejax.mixed("diameter ~ 1 + (1 | sample) + (1 | plate)",
                      mejax.datasets.load("penicillin"))
    n_entries, n_phi = len(fit._fit["entries"]), len(fit._fit["phi"])
    fit._fit["inference"] = lambda: (np.zeros((n_entries, n_entries)), np.zeros((n_phi, n_phi)))
    estimates = LmmKind().point_estimates(fit)
    expected = np.r_[fit.fixef.to_numpy(), fit.varcomp["estimate"].to_numpy()]
    np.testing.assert_allclose(estimates.to_numpy(), expected, rtol=1e-12)
    labels = [f"{g}: {lab}" for g, lab in zip(fit.varcomp["group"], fit.varcomp["label"])]
    assert list(estimates.index[1:-1]) == labels[:-1]
    assert labels[0].startswith("sample: ")
    assert estimates.index[-1] == "var(Residual)"


def test_batch_equals_individual_fits(sleepstudy, responses, batch):
    frame = batch.frame
    assert len(frame) == 6 and (frame["code"] == CONVERGED).all()
    assert list(frame.columns[:6]) == [
        "(Intercept)", "Days", "Subject: var((Intercept))", "Subject: var(Days)",
        "Subject: cov((Intercept),Days)", "var(Residual)"]
    for i in (0, 3, 5):
        single, expected = _one_by_one(sleepstudy, FORMULA, "Reaction", responses[i])
        got = frame.loc[i, batch.estimate_columns].to_numpy(float)
        np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-5, atol=1e-6)
        assert frame.loc[i, "loglik"] == pytest.approx(single.loglik, abs=1e-6)


def test_nan_replicate_fails_alone(fit, responses, batch):
    bad = responses.copy()
    bad[2, 7] = np.nan
    bad[4, 0] = np.inf
    with pytest.warns(mejax.ConvergenceWarning, match="2 non-finite input"):
        out = mejax.fit_batch(fit, bad)
    codes = out.codes
    assert codes[2] == BAD_INPUT and codes[4] == BAD_INPUT
    assert out.frame.loc[2, "status"] == "non-finite input"
    assert np.isnan(out.frame.loc[[2, 4], out.estimate_columns].to_numpy()).all()
    good = [0, 1, 3, 5]
    assert (codes[good] == CONVERGED).all()
    np.testing.assert_allclose(out.frame.loc[good, out.estimate_columns].to_numpy(float),
                               batch.frame.loc[good, batch.estimate_columns].to_numpy(float),
                               rtol=1e-12)


def test_formula_with_responses_and_single_response(sleepstudy, responses, batch):
    out = mejax.fit_batch(FORMULA, responses[:3], data=sleepstudy)
    np.testing.assert_allclose(out.frame[out.estimate_columns].to_numpy(float),
                               batch.frame[batch.estimate_columns].to_numpy(float)[:3],
                               rtol=1e-10)
    one = mejax.fit_batch(FORMULA, responses[1], data=sleepstudy)
    assert len(one) == 1


def test_same_bucket_reuses_the_compiled_call(fit, responses, batch):
    from mejax.batch import compiled

    before = len(compiled._CALLS)
    out = fit.refit_batch(responses[:5])  # 5 and 6 fits share the bucket of 8
    assert len(compiled._CALLS) == before
    np.testing.assert_array_equal(out.frame["Days"], batch.frame["Days"][:5])


def test_stata_command_line(sleepstudy, responses, batch):
    command = "mixed Reaction Days || Subject: Days, covariance(unstructured)"
    out = mejax.fit_batch(command, responses[:2], data=sleepstudy)
    assert out.estimate_columns[:2] == ["Days", "_cons"]
    np.testing.assert_allclose(out.frame["_cons"], batch.frame["(Intercept)"][:2], rtol=1e-8)
    np.testing.assert_allclose(out.frame["var(Residual)"], batch.frame["var(Residual)"][:2],
                               rtol=1e-6)


@pytest.mark.parametrize("shape, message", [
    ((6, 179), "179 columns but the model's estimation sample has 180"),
    ((180, 6), "transpose"),
    ((2, 3, 180), "must be a \\(B, nobs\\) array"),
    ((0, 180), "empty"),
])
def test_response_shape_errors(fit, shape, message):
    with pytest.raises(mejax.DataError, match=message):
        fit.refit_batch(np.zeros(shape))


def test_non_numeric_responses_and_missing_responses(fit):
    with pytest.raises(mejax.DataError, match="numeric"):
        fit.refit_batch([["a"] * 180])
    with pytest.raises(mejax.DataError, match="responses"):
        mejax.fit_batch(fit)


def test_dropped_rows_are_explained(sleepstudy):
    data = sleepstudy.copy()
    data.loc[3, "Days"] = np.nan
    partial = mejax.mixed(FORMULA, data)
    with pytest.raises(mejax.DataError, match="1 row\\(s\\) with missing values"):
        partial.refit_batch(np.zeros((2, 180)))


def test_chunk_sizes_are_bucketed():
    assert chunk_size_for(6, 180) == 8
    assert chunk_size_for(1000, 180) == 128  # on CPU
    assert chunk_size_for(100, 180) == 128
    assert chunk_size_for(5000, 100_000) == 32
    assert chunk_size_for(10, 180, n_devices=8) == 64
    assert chunk_size_for(200, 180, chunk_size=90, n_devices=4) == 92


def test_many_datasets_grouped_by_shape():
    """Several data sets of one structure: one compiled call per group of block shapes."""
    rng = np.random.default_rng(5)
    sets = []
    for n_groups in (5, 6, 6, 20):
        g = np.repeat(np.arange(n_groups), 4)
        x = rng.normal(size=4 * n_groups)
        y = 1 + 0.5 * x + rng.normal(size=n_groups)[g] + rng.normal(size=4 * n_groups)
        sets.append(pd.DataFrame({"y": y, "x": x, "g": g}))
    formula = "y ~ x + (1 | g)"
    out = mejax.fit_batch(formula, data=sets, reml=True)
    assert out.timings["groups"] == 2  # 5 and 6 groups share shape buckets, 20 does not
    assert out.estimate_columns == ["(Intercept)", "x", "g: var((Intercept))", "var(Residual)"]
    for i in (1, 3):
        single, expected = _one_by_one(sets[i], formula, "y", sets[i]["y"], reml=True)
        got = out.frame.loc[i, out.estimate_columns].to_numpy(float)
        np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-5, atol=1e-6)
        assert out.frame.loc[i, "loglik"] == pytest.approx(single.loglik, abs=1e-6)


def test_many_datasets_must_share_estimates():
    one = pd.DataFrame({"y": np.arange(12.0), "x": list("ab") * 6, "g": np.repeat([0, 1, 2], 4)})
    two = one.assign(x=list("abc") * 4)
    with pytest.raises(mejax.DataError, match="same fixed effects"):
        mejax.fit_batch("y ~ x + (1 | g)", data=[one, two])
    with pytest.raises(mejax.DataError, match="data set 1"):
        mejax.fit_batch("y ~ x + (1 | g)", data=[one, one.drop(columns="g")])
