"""The nlme reference fits of tests/reference/menl as mejax.menl calls.

Orange, the variety slope and the nested model are written in Stata's syntax; Theoph as a
Python (JAX) mean function: both front ends are checked against nlme.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import mejax

REF = Path(__file__).parent / "reference" / "menl"

ORANGE = ("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})), "
          "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353)")
VARIETY_POWER = ("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})), "
                 "define(phi1: U0[Plot] variety 1.variety#U1[Plot]) "
                 "initial(phi1:_cons 19 b2 55 b3 8) resvariance(power _yhat, noconstant)")
NESTED = ("menl weight = ({b1}+{U1[Year]}+{UU1[Plot<Year]})/"
          "(1+exp(-(Time-{b2}-{U2[Year]}-{UU2[Plot<Year]})/{b3})), initial(b1 19 b2 55 b3 8)")


def first_order(p, d):
    """nlme's SSfol: one-compartment model with first-order absorption (log parameters)."""
    ke, ka, cl = jnp.exp(p["lKe"]), jnp.exp(p["lKa"] + p["U1"]), jnp.exp(p["lCl"] + p["U0"])
    return d["Dose"] * ke * ka / (cl * (ka - ke)) * (jnp.exp(-ke * d["Time"]) -
                                                      jnp.exp(-ka * d["Time"]))


THEOPH = dict(response="conc", fixed={"lKe": -2.4, "lKa": 0.45, "lCl": -3.2},
              random={"U0": "Subject", "U1": "Subject"})


def soybean():
    df = mejax.datasets.load("soybean")
    return df.assign(variety=(df["Variety"] == "P").astype(float))


def reference(case: str) -> dict:
    return json.loads((REF / f"{case}.json").read_text())["reference"]


def check_intercept_model_against_nlme(res, ref: dict, level: str):
    """The checks every one-level nlme comparison shares; returns the varcomp frame by row.

    Converged, log likelihood 1e-3, fixed effects 1e-3 relative and their SEs 2%, and the
    level's intercept variance (the first variance row) and its SE (2·var·SE(log sd) from
    nlme's apVar) 2%.
    """
    assert res.converged
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(res.fixef, list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(res.fixef_se, list(ref["fixef_se"].values()), rtol=0.02)
    vc = res.varcomp
    var_u = ref["re_cov"][level]["cov"][0][0]
    assert vc["estimate"].iloc[0] == pytest.approx(var_u, rel=0.02)
    assert vc["std_err"].iloc[0] == pytest.approx(
        2 * var_u * ref["apvar_se"][f"reStruct.{level}"], rel=0.02)
    return vc.set_index("var1")
