"""Several devices (8 CPU devices in a subprocess): the results of one device.

- the batch axis of a batch fit sharded over 8 devices;
- the row sums of the cross-product blocks of one model on 8 row shards.

XLA_FLAGS must be set before JAX starts, hence the subprocess.
"""

from __future__ import annotations

import textwrap

from host_devices import run_script

SCRIPT = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    os.environ["MEJAX_NO_CACHE"] = "1"
    import warnings
    import numpy as np
    import jax
    import mejax
    from mejax.fit.mixed import block_order
    from mejax.linalg.blocks import crossprod_blocks
    from mejax.parallel import sharded_crossprod_blocks

    assert len(jax.devices()) == 8, jax.devices()

    # batch axis over 8 devices
    sleep = mejax.datasets.load("sleepstudy")
    fit = mejax.mixed("Reaction ~ Days + (Days | Subject)", sleep)
    y = fit.simulate(16, seed=1)
    y[5, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = mejax.fit_batch(fit, y, devices=1)
        eight = mejax.fit_batch(fit, y)
    assert eight.timings["chunk_size"] == 64  # 8 fits per device
    np.testing.assert_array_equal(one.codes, eight.codes)
    assert one.codes[5] == 2 and (np.delete(one.codes, 5) == 0).all()
    cols = one.estimate_columns
    # the partitioned program rounds a few gradients differently (about 1e-12), which can
    # change a BFGS path: equal up to the optimiser's tolerance, most fits to the last bit.
    # Each column is compared on its own scale: a covariance near zero (-0.57 beside
    # variances of 35 and 205) is as precise as the variances, not relatively more so.
    scale = np.nanmax(np.abs(one.frame[cols].to_numpy()), axis=0)
    np.testing.assert_allclose(eight.frame[cols].to_numpy() / scale,
                               one.frame[cols].to_numpy() / scale, rtol=0, atol=1e-5)
    np.testing.assert_allclose(eight.frame["loglik"], one.frame["loglik"], rtol=0, atol=1e-8)
    same = np.all(eight.frame[cols].to_numpy() == one.frame[cols].to_numpy(), axis=1)
    print("bitwise equal fits:", int(same.sum()), "of", len(same), "max rel diff:",
          np.nanmax(np.abs(eight.frame[cols].to_numpy() / one.frame[cols].to_numpy() - 1)))

    # rows of one crossed model over 8 devices
    pen = mejax.datasets.load("penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    single = mejax.mixed(formula, pen)
    sharded = mejax.mixed(formula, pen, devices=8)
    design = single.design
    terms = [design.re_terms[i] for i in block_order(design)]
    args = ([t.codes for t in terms], [t.z for t in terms],
            np.column_stack([design.x, design.y]), [t.n_levels for t in terms])
    layout, host = crossprod_blocks(*args)
    layout8, dev = sharded_crossprod_blocks(*args, jax.devices())
    assert layout8 == layout and sorted(dev) == sorted(host)
    for key in host:
        if host[key].dtype.kind == "f":
            np.testing.assert_allclose(dev[key], host[key], rtol=1e-13, atol=1e-12)
        else:
            np.testing.assert_array_equal(dev[key], host[key])
    assert abs(sharded.loglik - single.loglik) < 1e-9
    np.testing.assert_allclose(sharded.theta, single.theta, rtol=1e-7)
    np.testing.assert_allclose(sharded.fixef, single.fixef, rtol=1e-10)
    print("ok")
""")


def test_eight_devices_match_one():
    run_script(SCRIPT)
