"""Small example data sets bundled with mejax (see PROVENANCE.md beside the files).

Factors load as pandas categoricals with their source's levels in its order
(lme4's ``cbpp$period`` is a factor, so ``period`` fits one coefficient per
period, as in lme4); :mod:`mejax.datasets.schema` lists them.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .schema import SCHEMAS, apply_schema

_FILES = {
    "sleepstudy": "sleepstudy.csv",
    "penicillin": "penicillin.csv",
    "pastes": "pastes.csv",
    "orthodont": "orthodont.csv",
    "dyestuff2": "dyestuff2.csv",
    "ovary": "ovary.csv",
    "cbpp": "cbpp.csv",
    "contraception": "contraception.csv",
    "epilepsy": "epilepsy.csv",
    "wine": "wine.csv",
    "insteval": "insteval.csv.gz",
    "apiclus2": "apiclus2.csv",
    "orange": "orange.csv",
    "soybean": "soybean.csv",
    "loblolly": "loblolly.csv",
    "theoph": "theoph.csv",
}

__all__ = ["names", "load", "SCHEMAS"]


def names() -> list[str]:
    """Names of the bundled data sets."""
    return sorted(_FILES)


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set by name, e.g. ``load("sleepstudy")``."""
    key = name.lower()
    if key not in _FILES:
        raise KeyError(f"unknown data set {name!r}; bundled: {', '.join(names())}")
    path = resources.files(__package__) / "data" / _FILES[key]
    with resources.as_file(path) as file:
        frame = pd.read_csv(file)
    return apply_schema(frame, SCHEMAS[key])
