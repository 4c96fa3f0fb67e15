"""Bounded memory for nested quadrature and for the observed information, at no cost in results.

* nodes integrated below in chunks (the memory bound of large grids) give the same log
  likelihood and gradient (exact, and at fixed grids) as all nodes at once, at two and
  three levels (test_glmm_nested
  checks the unchunked values against independent trapezoid integrals);
* the observed information from batches of gradients equals the one vmapped over all;
* the chunk is the largest divisor of a level's nodes that fits the budget;
* log Φ (one erfc, the tail series below −30) agrees with scipy to 1e-13 relative from
  −10⁴ to 40, with its derivative φ/Φ.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_ndtr
from test_glmm_nested import _design, _three_level_data, _two_level_data

from mejax.families.links import log_normal_cdf
from mejax.fit.glmm import observed_information, prepare
from mejax.models import glmm, glmm_nested
from mejax.models.glmm import marginal_loglik

PARAMS = np.array([-0.2, 0.6, 0.7, 0.5])


def _value_and_grad(params, arrays, model, order=1):
    """A fresh trace each call, so a patched chunk budget takes effect."""
    fn = jax.jit(jax.value_and_grad(lambda p: marginal_loglik(p, arrays, model, order)))
    value, grad = fn(jnp.asarray(params))
    return float(value), np.asarray(grad)


@pytest.fixture(scope="module")
def two_level():
    data = _two_level_data()
    model, arrays = prepare(_design("y ~ x + (1 | school) + (1 | cls)", data), "mvaghq", 3)
    return data, model, arrays


def test_node_chunk_is_the_largest_divisor_that_fits():
    budget = glmm_nested.CHUNK_ELEMENTS
    assert glmm_nested.node_chunk(816, 1, 49, 49) == 49  # 816 × 49² fits: all at once
    assert glmm_nested.node_chunk(budget // 49 // 7, 1, 49, 49) == 7
    assert glmm_nested.node_chunk(budget // 49 // 6, 1, 49, 49) == 1  # no divisor 6 of 49
    assert glmm_nested.node_chunk(10**6, 1, 49, 49) == 1  # never below one node


@pytest.mark.parametrize("order", [1, 0])  # exact, and at fixed grids (as single fits)
def test_chunked_levels_equal_all_nodes_at_once(two_level, monkeypatch, order):
    _, model, arrays = two_level
    whole = _value_and_grad(PARAMS, arrays, model, order)
    rows = arrays["x"].shape[0]
    monkeypatch.setattr(glmm_nested, "CHUNK_ELEMENTS", rows * 3)  # one top node at a time
    assert glmm_nested.node_chunk(rows, 1, 3, 3) == 1
    chunked = _value_and_grad(PARAMS, arrays, model, order)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-9, atol=1e-10)
    if order == 0:  # the chunks recomputed in the derivative instead of kept
        monkeypatch.setattr(glmm_nested, "KEPT_ELEMENTS", 0)
        recomputed = _value_and_grad(PARAMS, arrays, model, order)
        assert recomputed[0] == pytest.approx(whole[0], rel=1e-12)
        np.testing.assert_allclose(recomputed[1], whole[1], rtol=1e-9, atol=1e-10)


def test_chunked_three_levels_equal_all_nodes_at_once(monkeypatch):
    data = _three_level_data()
    params = jnp.asarray([0.4, 0.3, 0.5, 0.4, 0.3])
    model, arrays = prepare(_design("y ~ x + (1 | a/b/c)", data, "poisson"), "mcaghq", 3)

    def value():  # a fresh trace each call, so a patched chunk budget takes effect
        return float(jax.jit(lambda p: marginal_loglik(p, arrays, model))(params))

    whole = value()
    monkeypatch.setattr(glmm_nested, "CHUNK_ELEMENTS", arrays["x"].shape[0] * 3)
    assert value() == pytest.approx(whole, rel=1e-12)


def test_batched_information_equals_vmapped(two_level, monkeypatch):
    _, model, arrays = two_level
    info = jax.jit(observed_information, static_argnums=2)
    params = jnp.asarray(PARAMS)
    assert glmm.gradient_batch(arrays, model, 8) is None
    whole = np.asarray(info(params, arrays, model))
    monkeypatch.setattr(glmm, "BATCH_ELEMENTS", arrays["x"].shape[0] * 9 * 3)
    assert glmm.gradient_batch(arrays, model, 8) == 3  # 8 gradients in batches of 3
    batched = np.asarray(jax.jit(observed_information, static_argnums=2)(params, arrays, model))
    np.testing.assert_allclose(batched, whole, rtol=1e-10, atol=1e-10)


def test_log_normal_cdf_matches_scipy():
    z = np.concatenate([np.linspace(-1e4, -50, 2001), np.linspace(-50, 40, 90001)])
    ref = log_ndtr(z)
    ours = np.asarray(jax.jit(log_normal_cdf)(z))
    keep = np.abs(ref) > 1e-250  # log Φ underflows to 0 near z = 38
    np.testing.assert_allclose(ours[keep], ref[keep], rtol=1e-13)
    d1 = np.asarray(jax.jit(jax.vmap(jax.grad(log_normal_cdf)))(z))
    mills = np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - ref)
    near = z > -100  # further out both sides lose digits to −z²/2 − log Φ (≈ 1e-8 at −10⁴)
    np.testing.assert_allclose(d1[near], mills[near], rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(d1, mills, rtol=1e-6, atol=1e-300)  # φ/Φ flushes to 0 at z≈38
    d2 = np.asarray(jax.jit(jax.vmap(jax.grad(jax.grad(log_normal_cdf))))(z[::50]))
    assert np.all(np.isfinite(d2)) and np.all(d2 <= 0)  # log Φ is concave
