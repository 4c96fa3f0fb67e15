"""Shared test helpers: reference cases committed under tests/reference."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import mejax

REFERENCE = Path(__file__).parent / "reference"


def load_case(case_id: str) -> dict:
    return json.loads((REFERENCE / "cases" / f"{case_id}.json").read_text())


def load_tight_reference(case_id: str) -> dict | None:
    """The tightly converged lme4 refit of a case (make_refs_tight.R), if there is one."""
    path = REFERENCE / "cases_tight" / f"{case_id}.json"
    return json.loads(path.read_text())["reference"] if path.exists() else None


def load_case_data(case: dict) -> pd.DataFrame:
    name = case["data"]
    path = REFERENCE / "data" / name
    if path.exists():
        return pd.read_csv(path)
    return mejax.datasets.load(Path(name).stem)


def lmm_case_ids(with_residuals: bool = False) -> list[str]:
    ids = []
    for path in sorted((REFERENCE / "cases").glob("lmm_*.json")):
        case = json.loads(path.read_text())
        if bool(case["model"].get("residuals")) == with_residuals:
            ids.append(case["id"])
    return ids


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    return mejax.datasets.load("sleepstudy")
