"""Exported single-fit programs (mejax.fit.programs): the same answers as the traced path,
loaded instead of traced by a later process, and never reused for other shapes, options
or sources."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import mejax
from mejax.fit import programs

SLEEP = "mixed Reaction Days || Subject: Days"


def _numbers(result) -> np.ndarray:
    """Log likelihood, coefficients, their SEs and the variance components with SEs."""
    vc = result.varcomp
    return np.concatenate([[result.loglik], result.fixef.to_numpy(), result.fixef_se.to_numpy(),
                           vc["estimate"].to_numpy(float), vc["std_err"].to_numpy(float)])


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """Programs exported to (and loaded from) ``tmp_path``; a fresh in-process table."""
    monkeypatch.setattr(programs, "export_dir", lambda: tmp_path)
    monkeypatch.setattr(programs, "_PROGRAMS", {})
    monkeypatch.setattr(programs, "_FITS", {})
    return tmp_path


def _new_process(monkeypatch) -> None:
    """What a new process starts with: no programs in memory, no traced jit caches."""
    monkeypatch.setattr(programs, "_PROGRAMS", {})
    monkeypatch.setattr(programs, "_FITS", {})
    jax.clear_caches()


@pytest.fixture(scope="module")
def sleepstudy():
    return mejax.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def traced(sleepstudy):
    """The traced path (no export folder: conftest sets MEJAX_NO_CACHE)."""
    assert programs.export_dir() is None
    return _numbers(mejax.stata(SLEEP, sleepstudy))


def test_exported_lmm_matches_traced_and_loads_without_tracing(exported, monkeypatch,
                                                               sleepstudy, traced):
    first = _numbers(mejax.stata(SLEEP, sleepstudy))
    files = sorted(p.name for p in exported.iterdir())
    assert [f.split("-")[0] for f in files] == ["lmm_evaluation"]  # fit and SEs: one program
    np.testing.assert_allclose(first, traced, rtol=1e-12, atol=0)

    _new_process(monkeypatch)

    def no_tracing(*args, **kwargs):
        raise AssertionError("a program on disk was traced again")

    monkeypatch.setattr(jax.export, "export", no_tracing)
    again = _numbers(mejax.stata(SLEEP, sleepstudy))
    np.testing.assert_array_equal(again, first)
    assert sorted(p.name for p in exported.iterdir()) == files
    monkeypatch.undo()  # REML: another model, so a program of its own
    monkeypatch.setattr(programs, "export_dir", lambda: exported)
    reml = mejax.stata(SLEEP + ", reml", sleepstudy)
    assert len([p for p in exported.iterdir() if p.name.startswith("lmm_evaluation")]) == 2
    assert first[0] == pytest.approx(-876.0016, abs=1e-3)  # lmer, ML
    assert reml.loglik == pytest.approx(-871.8346, abs=1e-3)  # lmer, REML


def _double(x):
    return 2.0 * x


def test_programs_are_keyed_by_shapes_static_and_sources(exported, monkeypatch):
    def files():
        return {p.name for p in exported.iterdir()}

    np.testing.assert_array_equal(programs.program("double", _double, "a", np.ones(3))(
        np.ones(3)), 2.0)
    first = files()
    assert len(first) == 1
    programs.program("double", _double, "a", np.ones(4))  # other shapes
    programs.program("double", _double, "b", np.ones(3))  # another model
    programs.program("double", _double, "a", np.ones(3, np.int32))  # another dtype
    assert len(files()) == 4
    _new_process(monkeypatch)
    programs.program("double", _double, "a", np.ones(3))
    assert len(files()) == 4  # loaded, not exported again
    _new_process(monkeypatch)
    monkeypatch.setattr(programs, "source_digest", lambda: "edited sources")
    programs.program("double", _double, "a", np.ones(3))
    assert len(files()) == 5


def test_a_damaged_file_is_exported_again(exported, monkeypatch):
    programs.program("double", _double, "a", np.ones(3))
    (path,) = exported.iterdir()
    path.write_bytes(b"not a program")
    _new_process(monkeypatch)
    out = programs.program("double", _double, "a", np.ones(3))(np.arange(3.0))
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    assert path.stat().st_size > 100


def test_exported_glmm_matches_traced(exported, monkeypatch):
    cbpp = mejax.datasets.load("cbpp")
    command = "melogit incidence i.period || herd:, binomial(size) laplace"
    monkeypatch.setattr(programs, "export_dir", lambda: None)
    traced = _numbers(mejax.stata(command, cbpp))
    monkeypatch.setattr(programs, "export_dir", lambda: exported)
    _new_process(monkeypatch)
    first = _numbers(mejax.stata(command, cbpp))
    names = sorted(p.name.split("-")[0] for p in exported.iterdir())
    # one program per model (base and full: log L, gradient and the reported values)
    assert names == ["glmm_evaluation", "glmm_evaluation"]
    np.testing.assert_allclose(first, traced, rtol=1e-10, atol=0)
    assert first[0] == pytest.approx(-92.0266, abs=1e-3)  # glmer, Laplace
