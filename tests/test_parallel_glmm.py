"""A GLMM's clusters split over devices (CPU devices in a subprocess): one device's answers.

On cbpp (15 herds), by the Laplace approximation and by mean-variance adaptive
quadrature: the fit with ``devices=2`` (the model without random effects too)
gives the same estimates, log likelihood and standard errors, and the log
likelihood and gradient on its shards equal the unsharded ones. Nested levels
with weights at every level (pseudo-likelihood) shard too, over three devices. XLA_FLAGS must be set
before JAX starts, hence the subprocess (as tests/test_batch_devices.py).
"""

from __future__ import annotations

import textwrap

from host_devices import run_script

SCRIPT = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=3"
    os.environ["MEJAX_NO_CACHE"] = "1"
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd
    import mejax
    from dataclasses import replace
    from mejax.fit.glmm import loglik_and_gradient, prepare
    from mejax.glmm_parallel import (cluster_mesh, cluster_shards, put_shards,
                                     sharded_loglik_and_gradient)
    from mejax.spec.design import build_design
    from mejax.spec.family import make_family
    from mejax.spec.formula import parse_formula

    assert len(jax.devices()) == 3, jax.devices()
    loglik_and_gradient = jax.jit(loglik_and_gradient, static_argnums=2)

    def check_sharded(params, arrays, model, n_devices):
        # log L and its gradient on n_devices shards (the fit's compiled program for those
        # shards) against one device's
        mesh = cluster_mesh(jax.devices()[:n_devices])
        shards, local = cluster_shards(arrays, model, n_devices)
        value, grad = sharded_loglik_and_gradient(params, put_shards(shards, mesh), model=local,
                                                  mesh=mesh)
        want, want_grad = loglik_and_gradient(params, jax.tree_util.tree_map(jnp.asarray, arrays),
                                              model)
        assert abs(float(value - want)) < 1e-10, (float(value), float(want))
        np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-10)
        return shards

    cbpp = mejax.datasets.load("cbpp")
    formula = "incidence ~ C(period) + (1 | herd)"
    for method in ("laplace", "mvaghq"):
        one = mejax.melogit(formula, cbpp, trials="size", method=method)
        two = mejax.melogit(formula, cbpp, trials="size", method=method, devices=2)
        assert one.converged and two.converged
        assert abs(two.loglik - one.loglik) < 1e-10, (two.loglik, one.loglik)
        np.testing.assert_allclose(two.params, one.params, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(two.fixef_se, one.fixef_se, rtol=1e-8)
        assert abs(two.linear_loglik - one.linear_loglik) < 1e-10  # the model without effects

        # log L and its gradient away from the optimum, on the fit's 2 shards (8 + 7 herds)
        shards = check_sharded(jnp.asarray(one.params) + 0.1, one._fit["arrays"], one.model, 2)
        # whole herds on each device: 15 clusters of weight 1, the padding of weight 0
        weights = shards["cluster_weight"]
        assert shards["x"].shape[0] == 2 and weights.sum() == 15
        assert set(weights.ravel()) <= {0, 1}
        print(method, "loglik", one.loglik, "sharded - one:", two.loglik - one.loglik)

    # nested levels (10 schools / 30 classes; their joint Laplace approximation) with
    # pseudo-likelihood weights at every level, split unevenly over 3 devices
    rng = np.random.default_rng(4)
    school, cls = np.repeat(np.arange(10), 12), np.repeat(np.arange(30), 4)
    x = rng.normal(size=120)
    eta = -0.3 + 0.7 * x + 0.8 * rng.normal(size=10)[school] + 0.6 * rng.normal(size=30)[cls]
    frame = pd.DataFrame({"y": (rng.random(120) < 1 / (1 + np.exp(-eta))).astype(float),
                          "x": x, "school": school, "cls": cls})
    spec = replace(parse_formula("y ~ x + (1 | school/cls)"), family=make_family("binomial"))
    model, arrays = prepare(build_design(spec, frame), "mcaghq", 1)
    assert model.engine == "nested"
    arrays["cluster_weight"] = rng.uniform(1, 3, 10)
    arrays["levels"] = (arrays["levels"][0], {**arrays["levels"][1],
                                              "weight": rng.uniform(1, 2, 30)})
    arrays["data"] = {**arrays["data"], "row_weight": rng.uniform(1, 2, 120)}
    check_sharded(jnp.array([-0.2, 0.6, 0.7, 0.5]), arrays, model, 3)

    # crossed effects are one cluster: a clear error before any fit
    try:
        mejax.melogit("incidence ~ 1 + (1 | herd) + (1 | period)", cbpp, trials="size",
                      devices=2)
    except mejax.SpecError as err:
        assert "one cluster" in str(err), err
    else:
        raise AssertionError("crossed effects over devices= did not raise")
    print("ok")
""")


def test_two_devices_match_one():
    run_script(SCRIPT)
