"""The nlme reference fits of tests/reference/menl as mejax.menl calls.

Orange, the variety slope and the nested model are written in Stata's syntax; Theoph as a
Python (JAX) mean function: both front ends are checked against nlme.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp

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
