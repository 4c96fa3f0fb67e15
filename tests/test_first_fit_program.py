"""The one program of a first GLMM fit: small, and its shortcuts exact.

A fresh process's ``meologit`` was mostly XLA compiling the value and gradient of the
log likelihood; these check what made that program smaller without changing a number:
the lean log-expit, the ordinal cutpoints bound once per likelihood, one Newton step
through the mode (the standard errors, central differences of the gradient, match two
steps), and the ordinal-logit program no longer ~3× the binary logit one's (counted,
not timed).
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import special

from mejax.families import make_family
from mejax.families.links import log_expit
from mejax.fit import glmm as fit_glmm
from mejax.fit.differences import host_information
from mejax.models.density import bind_rows
from mejax.models.glmm import marginal_loglik
from mejax.spec.design import build_design
from mejax.spec.formula import parse_formula


def test_log_expit_and_its_derivatives_match_closed_forms():
    x = jnp.array([-800.0, -40.0, -3.0, -1e-9, 0.0, 1e-9, 2.0, 40.0, 800.0])
    np.testing.assert_allclose(log_expit(x), -jnp.logaddexp(0.0, -x), rtol=1e-15, atol=0)
    p = special.expit(np.asarray(x))
    q = special.expit(-np.asarray(x))
    wanted = [q, -p * q, -p * q * (q - p)]  # d/dx log σ = σ(−x), then σ' = σ(1 − σ)
    fn = log_expit
    for want in wanted:
        fn = jax.grad(fn)
        np.testing.assert_allclose(jax.jit(jax.vmap(fn))(x), want, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_bound_cutpoints_give_the_same_density_and_derivatives(link):
    rng = np.random.default_rng(3)
    family = make_family("ordinal", link)
    data, _ = family.response_rows(rng.integers(1, 5, 50).astype(float), {},
                                   (1.0, 2.0, 3.0, 4.0))
    eta = jnp.asarray(rng.normal(scale=2.0, size=50))
    aux = jnp.array([-1.0, np.log(1.2), np.log(1.3)])

    @jax.jit
    def both(a):  # one program: op-by-op dispatch would take longer than its compile
        def total(a, bound: bool):
            rows = bind_rows(family, data, a) if bound else data
            return jnp.sum(family.log_density(eta, rows, a))

        return [(total(a, True), total(a, False)),
                (jax.grad(total)(a, True), jax.grad(total)(a, False)),
                (family.eta_derivatives(eta, bind_rows(family, data, a), a),
                 family.eta_derivatives(eta, data, a))]

    assert set(bind_rows(family, data, aux)) > set(data)
    (value, want), (grad, want_grad), (derivs, want_derivs) = both(aux)
    np.testing.assert_allclose(value, want, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12)
    for a, b in zip(derivs, want_derivs):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def _data(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    g = rng.integers(0, 12, n)
    x = rng.normal(size=n)
    latent = 0.8 * x + rng.normal(size=12)[g] + rng.logistic(size=n)
    return pd.DataFrame({"x": x, "g": g, "b": (latent > 0).astype(float),
                         "r": np.digitize(latent, [-1.5, 0.0, 1.5]).astype(float)})


def _prepared(response: str, family, method: str = "mvaghq"):
    spec = replace(parse_formula(f"{response} ~ x + (1 | g)"), family=family)
    return fit_glmm.prepare(build_design(spec, _data()), method, 7)


def _start(model) -> jnp.ndarray:
    cuts = [-1.0, np.log(1.5), np.log(1.5)][: model.n_aux()]
    return jnp.asarray(np.r_[np.zeros(model.p), 0.8, cuts])


def _ops(model, arrays) -> int:
    lowered = jax.jit(fit_glmm.loglik_and_gradient, static_argnums=2).lower(
        _start(model), arrays, model)
    return sum("stablehlo." in line for line in lowered.as_text().splitlines())


def test_ordinal_logit_program_is_about_the_binary_logit_one():
    ordinal = _ops(*_prepared("r", make_family("ordinal", "logit")))
    binary = _ops(*_prepared("b", make_family("binomial", "logit")))
    assert ordinal <= 1.35 * binary, (ordinal, binary)  # 2.9× before


def test_one_newton_step_gives_the_information_of_two():
    model, arrays = _prepared("r", make_family("ordinal", "logit"))
    params = np.asarray(_start(model)) + 0.1

    def information(order: int) -> np.ndarray:
        grad = jax.jit(lambda p: jax.grad(marginal_loglik)(p, arrays, model, order))
        return host_information(lambda p: np.asarray(grad(p)), params, arrays["param_units"])

    one, two = information(1), information(2)
    np.testing.assert_allclose(one, two, rtol=1e-9, atol=1e-9 * np.abs(two).max())
