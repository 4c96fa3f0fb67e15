"""Property-based tests (hypothesis): invariants every linear mixed-model fit must satisfy.

Random data on two fixed shapes (8 groups × 5 and 10 groups × 4), so every
example after the first reuses the compiled fit. A longer run outside CI:
``HYPOTHESIS_PROFILE=long pytest tests/test_properties.py``.
"""

from __future__ import annotations

import os
import warnings
from functools import partial

import jax
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mejax
from mejax.models.lmm import profiled_deviance

settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHAPES = [(8, 5), (10, 4)]
FORMULA = "y ~ x + (1 + x | g)"


def make_data(seed: int, shape: int, slope_sd: float) -> pd.DataFrame:
    groups, per = SHAPES[shape]
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    b0 = rng.normal(size=groups)
    b1 = slope_sd * rng.normal(size=groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def fit(data: pd.DataFrame, formula: str = FORMULA):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mejax.mixed(formula, data)


designs = st.builds(make_data, st.integers(0, 2**31 - 1), st.sampled_from([0, 1]),
                    st.sampled_from([0.0, 0.5, 1.0]))


def close(a: float, b: float, tol: float = 1e-5) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


@given(designs, st.integers(-6, 6), st.floats(-1e3, 1e3))
def test_loglik_invariant_to_rescaling_and_shifting_x(data, power, shift):
    base = fit(data)
    moved = fit(data.assign(x=data.x * 10.0**power + shift))
    if base.converged and moved.converged:
        assert close(moved.loglik, base.loglik), (base.loglik, moved.loglik)


@given(designs, st.randoms(use_true_random=False))
def test_loglik_invariant_to_row_order_and_group_labels(data, rnd):
    base = fit(data)
    rows = list(range(len(data)))
    rnd.shuffle(rows)
    labels = list(range(data.g.nunique()))
    rnd.shuffle(labels)
    other = data.iloc[rows].assign(g=lambda d: [f"grp{labels[v]}" for v in d.g])
    moved = fit(other)
    if base.converged and moved.converged:
        assert close(moved.loglik, base.loglik)


@given(designs)
def test_ml_at_least_the_fit_without_random_effects(data):
    res = fit(data)
    assert res.loglik >= res.linear_loglik - 1e-6


@partial(jax.jit, static_argnames="model")
def _unit_gradient(q, arrays, model):
    """∂ deviance / ∂(θ/units): the gradient in standardised columns."""
    units = arrays["theta_units"]
    return jax.grad(lambda v: profiled_deviance(units * v, arrays, model))(q)


@given(designs)
def test_converged_means_a_small_gradient(data):
    """The deviance's gradient, recomputed here, is small in standardised units."""
    res = fit(data)
    if not res.converged:
        return
    out = res._fit
    units = out["arrays"]["theta_units"]
    grad = _unit_gradient(out["theta"] / units, out["arrays"], out["model"])
    # a zero variance is a stationary point of an unconstrained θ, so no exception there
    assert np.max(np.abs(np.asarray(grad))) / res.nobs < 1e-3


@given(designs)
def test_no_nan_without_a_flag(data):
    res = fit(data)
    values = np.concatenate([[res.loglik], res.fixef, res._fit["entries"]])
    assert np.all(np.isfinite(values)) or not res.converged


@settings(max_examples=4)
@given(st.builds(make_data, st.integers(0, 2**31 - 1), st.just(0), st.sampled_from([0.0, 1.0])))
def test_fit_batch_of_one_response_is_the_single_fit(data):
    res = fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = mejax.fit_batch(res, data.y.to_numpy()[None, :], progress=False)
    row = batch.frame.iloc[0]
    if res.converged and bool(row["converged"]):
        assert close(float(row["loglik"]), res.loglik, 1e-7)
        np.testing.assert_allclose(row[list(res.fixef.index)].to_numpy(float),
                                   res.fixef.to_numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("power", [-8, 8])
def test_response_scale_only_shifts_the_loglik(power):
    """y·c: β·c, variances·c², loglik − n·log c."""
    data = make_data(5, 0, 0.5)
    base = fit(data, "y ~ x + (1 | g)")
    c = 10.0**power
    scaled = fit(data.assign(y=data.y * c), "y ~ x + (1 | g)")
    assert scaled.loglik == pytest.approx(base.loglik - base.nobs * np.log(c), abs=1e-6)
    np.testing.assert_allclose(scaled.fixef.to_numpy(), base.fixef.to_numpy() * c, rtol=1e-6)
