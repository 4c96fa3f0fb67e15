"""The nlme reference fits of tests/reference/menl as mejax.menl calls (Python mean functions)."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp

import mejax

REF = Path(__file__).parent / "reference" / "menl"


def logistic(asym, xmid, scal, x):
    return asym / (1 + jnp.exp(-(x - xmid) / scal))


def first_order(p, d):
    """nlme's SSfol: one-compartment model with first-order absorption (log parameters)."""
    ke, ka, cl = jnp.exp(p["lKe"]), jnp.exp(p["lKa"] + p["U1"]), jnp.exp(p["lCl"] + p["U0"])
    return d["Dose"] * ke * ka / (cl * (ka - ke)) * (jnp.exp(-ke * d["Time"]) -
                                                      jnp.exp(-ka * d["Time"]))


def soybean():
    df = mejax.datasets.load("soybean")
    return df.assign(variety=(df["Variety"] == "P").astype(float))


def _soy_logistic(p, d):
    return logistic(p["Asym"] + p["U"], p["xmid"], p["scal"], d["Time"])


SOY_START = {"Asym": 19.0, "xmid": 55.0, "scal": 8.0}

CASES = {
    "orange": dict(data=lambda: mejax.datasets.load("orange"), response="circumference",
                   mean=lambda p, d: logistic(p["Asym"] + p["U"], p["xmid"], p["scal"], d["age"]),
                   fixed={"Asym": 192.0, "xmid": 728.0, "scal": 353.0}, random={"U": "Tree"}),
    "soybean": dict(data=soybean, response="weight", mean=_soy_logistic, fixed=SOY_START,
                    random={"U": "Plot"}),
    "loblolly": dict(data=lambda: mejax.datasets.load("loblolly"), response="height",
                     mean=lambda p, d: p["Asym"] + p["U"] + (p["R0"] - p["Asym"] - p["U"]) *
                     jnp.exp(-jnp.exp(p["lrc"]) * d["age"]),
                     fixed={"Asym": 103.0, "R0": -8.5, "lrc": -3.3}, random={"U": "Seed"}),
    "theoph": dict(data=lambda: mejax.datasets.load("theoph"), response="conc", mean=first_order,
                   fixed={"lKe": -2.4, "lKa": 0.45, "lCl": -3.2},
                   random={"U0": "Subject", "U1": "Subject"}),
    "soybean_variety": dict(
        data=soybean, response="weight",
        mean=lambda p, d: logistic(p["Asym"] + p["U0"] + (p["b11"] + p["U1"]) * d["variety"],
                                   p["xmid"], p["scal"], d["Time"]),
        fixed={"Asym": 19.0, "b11": 0.0, "xmid": 55.0, "scal": 8.0},
        random={"U0": "Plot", "U1": "Plot"}),
    "soybean_nested": dict(
        data=soybean, response="weight",
        mean=lambda p, d: logistic(p["Asym"] + p["U1"] + p["UU1"], p["xmid"] + p["U2"] + p["UU2"],
                                   p["scal"], d["Time"]),
        fixed=SOY_START, random={"U1": "Year", "U2": "Year", "UU1": "Plot<Year",
                                 "UU2": "Plot<Year"}),
    "soybean_power": dict(data=soybean, response="weight", mean=_soy_logistic, fixed=SOY_START,
                          random={"U": "Plot"}, resvariance="power _yhat, noconstant"),
    "soybean_constpower": dict(data=soybean, response="weight", mean=_soy_logistic,
                               fixed=SOY_START, random={"U": "Plot"},
                               resvariance="power _yhat"),
}


def reference(case: str) -> dict:
    return json.loads((REF / f"{case}.json").read_text())["reference"]


def fit(name: str, reml: bool = False, **extra):
    spec = dict(CASES[name])
    data = spec.pop("data")()
    return mejax.menl(spec.pop("mean"), data, reml=reml, **spec, **extra)
