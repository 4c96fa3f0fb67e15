"""Shared test helpers: reference cases committed under tests/reference."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

# Each test process compiles its own executables: the persistent cache only helps a second
# process, and jaxlib 0.10.2 has aborted while serialising an executable into it late in a
# long run. MEJAX_TEST_CACHE=1 keeps it.
if not os.environ.get("MEJAX_TEST_CACHE"):
    os.environ["MEJAX_NO_CACHE"] = "1"

# The suite is mostly XLA compiling programs it then runs for milliseconds: with LLVM's
# optimisation off (as a first fit's programs already are, mejax/fit/programs.py) it
# compiles a third faster. Programs that run long (samplers, batches) ask for XLA's
# default level themselves (programs.OPTIMISED). MEJAX_TEST_OPTIMISED=1 keeps the default.
if not os.environ.get("MEJAX_TEST_OPTIMISED"):
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

import mejax  # noqa: E402

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop each test file's compiled executables when it is done.

    A worker otherwise keeps every executable of every file it ran; jaxlib
    0.10.2 has crashed inside XLA's compiler late in such long-lived processes.
    """
    yield
    import gc

    import jax

    from mejax.fit import programs

    programs.clear()
    jax.clear_caches()
    gc.collect()


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


def margins_data() -> pd.DataFrame:
    """Simulated y, x1, x2, a, id data of the margins/hypothesis references (emmeans)."""
    return pd.read_csv(REFERENCE / "data" / "margins_sim.csv")


def margins_refs() -> dict:
    return json.loads((REFERENCE / "margins" / "margins_refs.json").read_text())
