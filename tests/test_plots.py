"""Plots as users expect them (issue 18): pyplot figures, Stata's graph options, ticks at
factor levels and 0/1 values, ``graph export``, and the notebook HTML view.

The numbers drawn are the margins' own (tested against emmeans in test_margins.py); these
tests check what is drawn, where, and how it is saved.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import mejax  # noqa: E402
from mejax.graph import GraphError, GraphOptions  # noqa: E402


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(18)
    n, groups = 160, 20
    df = pd.DataFrame({"id": np.repeat(np.arange(groups), n // groups), "x1": rng.normal(size=n),
                       "treat": rng.integers(0, 2, n), "a": rng.integers(1, 4, n)})
    df["y"] = (1 + 0.5 * df.x1 + 0.8 * df.treat + 0.3 * df.a
               + np.repeat(rng.normal(size=groups), n // groups) + rng.normal(size=n))
    return df


@pytest.fixture(scope="module")
def session(data):
    s = mejax.StataSession(data, echo=False)
    s.run("mixed y x1 treat i.a || id:")
    return s


@pytest.fixture(scope="module")
def fit(session):
    return session.results


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _errorbars(ax) -> list:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def test_marginsplot_is_pyplots_current_figure(fit, tmp_path):
    fig = fit.marginsplot("a")
    assert fig is plt.gcf()
    ax = fig.axes[0]
    assert ax.get_title() == "Predictive margins of a with 95% CIs"
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "Linear prediction, fixed portion"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), fit.margins("a")["table"]["margin"])
    assert len(_errorbars(ax)) == 1  # the confidence intervals
    plt.savefig(tmp_path / "m.png")  # pyplot's savefig right after saves this plot
    assert (tmp_path / "m.png").stat().st_size > 5000
    assert mejax.marginsplot(fit.margins("a")).axes[0].get_title() == ax.get_title()


def test_graph_options_change_the_figure(fit):
    margins = fit.margins("a, at(x1=(-1 0 1))")
    ax = margins.plot(noci=True, title="Mine", xtitle="x one", ytitle="E(y)").axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Mine", "x one", "E(y)")
    assert not _errorbars(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a=1", "a=2", "a=3"]
    assert margins.plot(noci=True).axes[0].get_title() == "Predictive margins of a"
    bars = margins.plot(recast="bar").axes[0]
    assert sum(isinstance(p, Rectangle) for p in bars.patches) == 9 and _errorbars(bars)
    scatter = margins.plot(recast="scatter").axes[0].get_lines()[0]
    assert scatter.get_linestyle() == "None" and scatter.get_marker() == "o"
    line = margins.plot(recast="line").axes[0].get_lines()[0]
    assert line.get_linestyle() == "-" and line.get_marker() in ("", "None", None)
    with pytest.raises(GraphError, match="recast\\(area\\): use one of"):
        margins.plot(recast="area")


def test_integer_ticks_for_a_binary_variable(fit):
    ax = fit.marginsplot(at={"treat": [0, 1]}).axes[0]
    assert list(ax.get_xticks()) == [0.0, 1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    ax = fit.marginsplot(", at(x1=(0(.5)1))").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", ".5", "1"]
    effects = fit.marginsplot(dydx="x1", at={"treat": [0, 1]}).axes[0]
    assert effects.get_title() == "Average marginal effects of x1 with 95% CIs"


def test_stata_options_parse():
    options, ignored = GraphOptions.from_stata(
        {"ti": '"A title"', "xtitle": "Days", "noci": True, "recast": "bar",
         "saving": "f.png, replace", "legend": "off"})
    assert options == GraphOptions(title="A title", xtitle="Days", noci=True, recast="bar",
                                   saving="f.png", replace=True)
    assert ignored == ["legend"]
    assert GraphOptions.from_stata({"title": '"Line 1" "Line 2"'})[0].title == "Line 1\nLine 2"
    with pytest.raises(GraphError, match="title\\(\\) needs an argument"):
        GraphOptions.from_stata({"title": True})


def test_session_marginsplot_options_and_graph_export(session, tmp_path):
    session.run("margins a")
    out = session.run('marginsplot, noci title("Margins of a") ytitle(Fitted) recast(bar) '
                      "legend(off)")
    assert "option legend not supported by mejax; ignored" in out
    assert "graph export" in out  # no display here: it says how to save the figure
    ax = session.figures[-1].axes[0]
    assert (ax.get_title(), ax.get_ylabel()) == ("Margins of a", "Fitted")
    assert not _errorbars(ax) and len(ax.patches) == 3
    for kind, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        path = tmp_path / f"g.{kind}"
        assert f"written in {kind.upper()} format" in session.run(f"graph export {path}")
        assert path.read_bytes().startswith(magic)
    with pytest.raises(mejax.SpecError, match="already exists; add the replace option"):
        session.run(f"graph export {tmp_path / 'g.png'}")
    session.run(f"graph export {tmp_path / 'g.png'}, replace width(400)")
    with pytest.raises(mejax.SpecError, match="cannot write .gph files"):
        session.run(f"gr export {tmp_path / 'g.gph'}")
    saved = tmp_path / "s.png"
    assert "saved" in session.run(f"marginsplot, saving({saved})")
    assert saved.stat().st_size > 5000
    with pytest.raises(mejax.SpecError, match="already exists"):
        session.run(f"marginsplot, saving({saved})")
    with pytest.raises(mejax.SpecError, match="use graph drop _all"):
        session.run("graph drop Graph")
    session.run("graph drop _all")
    assert session.figures == []
    with pytest.raises(mejax.SpecError, match="no graph to export"):
        session.run(f"graph export {tmp_path / 'h.png'}")
    with pytest.raises(mejax.SpecError, match="graph twoway: not supported"):
        session.run("graph twoway scatter y x1")


def test_figure_shows_once_in_jupyter(fit, monkeypatch):
    """Jupyter draws the figure as an image (not ``<Figure size ...>``), once."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig = fit.marginsplot("a")
    fig._ipython_display_()
    assert len(shown) == 1 and shown[0].data.startswith(b"\x89PNG")
    assert plt.fignum_exists(fig.number)  # not the inline backend: pyplot keeps it


def _text_of(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def test_html_is_the_stata_table(fit, data):
    shown = fit._repr_html_()
    assert _text_of(shown) == str(fit.summary())
    assert "   0.000  " in shown and not re.search(r"\de-\d", shown)  # P>|z| as Stata's
    assert "Number of groups" in shown and "Wald chi2(4)" in shown
    sleep = mejax.datasets.load("sleepstudy")
    reml = mejax.mixed("Reaction ~ Days + (1 | Subject)", sleep, reml=True)
    assert "Log restricted-likelihood" in _text_of(reml._repr_html_())
    assert _text_of(reml._repr_html_()) == str(reml.summary())


def test_matplotlib_loads_only_when_drawing():
    code = ("import sys, mejax; s = mejax.StataSession(); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
