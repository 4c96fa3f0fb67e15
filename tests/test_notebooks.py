"""The notebooks of notebooks/ run from top to bottom and show their figures (issue 18).

Each notebook is executed in a fresh kernel (nbclient) with the notebook's folder as its
working directory, so a tour that stops working, or stops drawing, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
BOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _data(nb) -> list[dict]:
    """The mime bundles of the notebook's rich outputs."""
    return [o["data"] for cell in nb.cells for o in cell.get("outputs", []) if "data" in o]


def test_one_notebook_per_family():
    assert {p.stem for p in BOOKS} >= {"tour", "glmm", "survival", "menl", "bayes", "survey"}


@pytest.mark.parametrize("path", BOOKS, ids=[p.stem for p in BOOKS])
def test_notebook_runs_and_draws(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # run from scratch: stored outputs must not satisfy the checks
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, naming the cell, when one fails
    bundles = _data(nb)
    assert any("image/png" in b for b in bundles), f"{path.name} draws no figure"
    assert not [b for b in bundles if "image/png" not in b
                and b.get("text/plain", "").startswith("<Figure")], "a figure shown as text"
    for b in bundles:
        if "Number of obs" in b.get("text/html", ""):  # a fit's HTML view: Stata's table
            assert b["text/html"].startswith("<pre")
