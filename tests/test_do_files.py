"""A real do-file survives: housekeeping, data commands, qualifiers, tables, capture, files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.cli import main
from mejax.session import SessionError, StataSession, parse_do
from mejax.stata_expr import ExprError
from mejax.text import fmt


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n, groups = 60, 12
    df = pd.DataFrame({"id": np.repeat(np.arange(1, groups + 1), n // groups),
                       "x": rng.normal(size=n), "age": rng.integers(5, 20, n).astype(float)})
    df["y"] = 1 + 0.5 * df["x"] + np.repeat(rng.normal(size=groups), n // groups) \
        + rng.normal(size=n)
    return df


def _session(data=None) -> StataSession:
    return StataSession(data, echo=False)


REAL_DO = """
version 17
clear all
set more off
set seed 12345
import delimited {csv}, clear
generate double lx = ln(age)
gen big = x > 0 if !missing(x)
replace big = 2 if big == 1 & age > 15
summarize y x age
tabulate big
list id y x in 1/3
capture noisily frobnicate
display _rc
mixed y x if age > 7 || id:
estimates store m1
quietly mixed y x lx || id:
estimates store m2
estimates table m1 m2, b se stats(N ll)
estat recovariance
keep if age > 6
drop lx
save {dta}, replace
export delimited {out}, replace
"""


def test_a_real_do_file_runs_to_the_end(panel, tmp_path, capsys):
    csv = tmp_path / "d.csv"
    panel.to_csv(csv, index=False)
    do = tmp_path / "analysis.do"
    do.write_text(REAL_DO.format(csv=csv, dta=tmp_path / "out", out=tmp_path / "out.csv"))
    session = _session()
    log = session.run_do(do)
    assert "(set more ignored" in log
    assert "(4 vars, 60 obs)" in log
    assert re.search(r"\(\d+ real changes made\)", log)
    assert "Std. dev." in log and "Cum." in log and "  1. |" in log
    assert ". display _rc\n199" in log
    sub = panel[panel["age"] > 7]
    assert session.stored["m1"].nobs == len(sub)
    assert "Legend: b/se" in log and "Random-effects covariance matrix for level id" in log
    assert (tmp_path / "out.dta").exists() and (tmp_path / "out.csv").exists()
    saved = pd.read_csv(tmp_path / "out.csv")
    assert len(saved) == int((panel["age"] > 6).sum()) and "lx" not in saved.columns
    # the command line runs the same do-file without --data
    assert main(["--do", str(do)]) == 0
    assert "Random-effects covariance matrix" in capsys.readouterr().out


def test_generate_and_replace(panel):
    s = _session(panel)
    assert s.run("generate double x2 = x^2") == ""
    np.testing.assert_allclose(s.data["x2"], panel["x"] ** 2)
    assert s.run("gen older = age if age > 15") == \
        f"({int((panel['age'] <= 15).sum())} missing values generated)"
    assert s.run("gen n = _n") == "" and s.data["n"].tolist() == list(range(1, 61))
    assert s.run("gen lag = y[_n-1]") == "(1 missing value generated)"
    assert s.run("gen str8 label = \"a\"") == "" and s.data["label"].eq("a").all()
    changed = int((panel["age"] > 15).sum())
    assert s.run("replace older = . if older > 15") == \
        f"({changed} real changes made, {changed} to missing)"
    assert s.run("replace x2 = x2") == "(0 real changes made)"
    assert s.run("replace age = 100 in 1") == "(1 real change made)"
    with pytest.raises(ExprError, match="variable x2 already defined"):
        s.run("generate x2 = 1")
    with pytest.raises(ExprError, match="variable nosuch not found"):
        s.run("replace nosuch = 1")
    with pytest.raises(ExprError, match="type mismatch"):
        s.run('replace age = "a"')
    with pytest.raises(ExprError, match="type mismatch"):
        s.run('generate double bad = "a"')
    with pytest.raises(ExprError, match="use generate"):
        s.run("generate = 3")


def test_keep_drop_sort_rename(panel):
    s = _session(panel)
    n_young = int((panel["age"] < 10).sum())
    assert s.run("drop if age < 10") == f"({n_young} observations deleted)"
    assert len(s.data) == 60 - n_young
    assert s.run("keep in 1/10") == f"({60 - n_young - 10} observations deleted)"
    assert s.run("drop in 1") == "(1 observation deleted)"
    s.run("keep y x id")
    assert list(s.data.columns) == ["id", "x", "y"]
    s.run("drop x")
    assert list(s.data.columns) == ["id", "y"]
    s.run("sort y")
    assert s.data["y"].is_monotonic_increasing
    s.run("rename y outcome")
    assert "outcome" in s.data.columns
    with pytest.raises(ExprError, match="varlist or if/in, not both"):
        s.run("drop id if id > 2")


def test_summarize_tabulate_list_match_the_data():
    sleep = mejax.datasets.load("sleepstudy")
    s = _session(sleep)
    out = s.run("summarize Reaction Days")
    line = next(row for row in out.splitlines() if row.strip().startswith("Reaction"))
    r = sleep["Reaction"]
    assert line.split()[2:] == ["180", f"{r.mean():.7g}", f"{r.std():.7g}", f"{r.min():.7g}",
                                f"{r.max():.7g}"]
    assert "Variable |        Obs        Mean    Std. dev.       Min        Max" in out
    assert s.r["N"] == 180 and s.r["max"] == 9  # r() of the last variable
    assert "Subject |        180" in s.run("summarize Subject")  # numeric levels: numbers
    assert "plate |          0" in _session(mejax.datasets.load("penicillin")).run(
        "summarize plate")  # string levels: a string variable, as in Stata
    cbpp = _session(mejax.datasets.load("cbpp"))
    table = cbpp.run("tabulate period")
    assert "           1 |         15       26.79       26.79" in table
    assert "       Total |         56      100.00" in table
    assert cbpp.run("count if period == 1") == "  15"
    listing = cbpp.run("list herd period incidence if herd == 1")
    assert len(re.findall(r"^\s+\d+\. \|", listing, flags=re.M)) == 4
    with pytest.raises(ExprError, match="two-way tables are not supported"):
        cbpp.run("tabulate herd period")
    with pytest.raises(ExprError, match="option detail not supported"):
        s.run("summarize Reaction, detail")


def test_files_use_save_import_export(panel, tmp_path):
    s = _session()
    assert s.run("use cbpp") == "(mejax's bundled data set cbpp)"
    assert isinstance(s.data["period"].dtype, pd.CategoricalDtype)
    s.run(f"save {tmp_path / 'c'}")
    with pytest.raises(ExprError, match="already exists"):
        s.run(f"save {tmp_path / 'c'}")
    s.run("clear")
    assert s.data.empty
    s.run(f"use {tmp_path / 'c.dta'}, clear")
    assert len(s.data) == 56 and s.data["incidence"].sum() == 99
    s.run(f"export delimited herd incidence using {tmp_path / 'c.csv'}")
    assert list(pd.read_csv(tmp_path / "c.csv").columns) == ["herd", "incidence"]
    s.run(f'import delimited "{tmp_path / "c.csv"}", clear')
    assert list(s.data.columns) == ["herd", "incidence"]
    with pytest.raises(ExprError, match="not found"):
        s.run(f"use {tmp_path / 'nothere.dta'}")
    with pytest.raises(ExprError, match="only import delimited"):
        s.run("import excel foo.xlsx")


def test_settings(panel):
    s = _session(panel)
    s.run("set seed 7")
    s.run("gen u = runiform()")
    t = _session(panel)
    t.run("set seed 7")
    t.run("gen u = runiform()")
    np.testing.assert_array_equal(s.data["u"], t.data["u"])
    assert s.run("set linesize 100") == "(set linesize ignored: it has no effect in mejax)"
    with pytest.raises(ExprError, match="setting not supported"):
        s.run("set frobnicate on")
    e = _session()
    e.run("set obs 5")
    e.run("gen i = _n * 2")
    assert e.data["i"].tolist() == [2, 4, 6, 8, 10]
    s.run("set level 90")
    assert "[90% conf. interval]" in s.run("mixed y x || id:")


def test_capture_quietly_noisily_exit_and_errors(panel, capsys):
    s = _session(panel)
    assert s.run("capture frobnicate") == "" and s.rc == 199
    assert s.run("capture drop nosuch") == "" and s.rc == 111
    assert s.run("capture summarize y") == "" and s.rc == 0
    assert s.run("quietly summarize y") == ""
    assert "Std. dev." in s.run("noisily summarize y")
    assert s.run("version 17: display 1+1") == "2"
    with pytest.raises(SessionError, match="unrecognized command: regress") as err:
        s.run("regress y x")
    assert err.value.rc == 199
    for cmd in ("melogit", "mepoisson", "meologit", "menbreg", "generate", "estimates"):
        assert cmd in str(err.value)
    log = s.run_do("capture noisily regress y x\ndisplay _rc\nexit\ndisplay 42")
    assert "unrecognized command: regress" in capsys.readouterr().out
    assert "199" in log and "42" not in log
    with pytest.raises(SessionError, match=r"command 2 \('regress y x'\).*unrecognized"):
        s.run_do("summarize y\nregress y x\nsummarize x")


def test_delimit_and_comments():
    text = """#delimit ;
    summarize y
        x ;
    * a comment;
    #delimit cr
    list y // comment
    """
    assert parse_do(text) == ["summarize y x", "list y"]


def test_if_in_on_estimation_commands(panel):
    sub = panel[(panel["age"] > 8)]
    direct = mejax.mixed("y ~ x + (1 | id)", sub)
    via_if = mejax.stata("mixed y x if age > 8 || id:", panel)
    assert via_if.nobs == len(sub)
    assert via_if.loglik == pytest.approx(direct.loglik, abs=1e-8)
    via_in = mejax.stata("mixed y x in 1/40 || id:", panel)
    assert via_in.nobs == 40
    s = _session(panel)
    s.run("mixed y x if age > 8 || id:")
    s.run("predict xb")
    assert s.data.loc[panel["age"] <= 8, "xb"].isna().all()
    assert s.data.loc[panel["age"] > 8, "xb"].notna().all()
    np.testing.assert_array_equal(s.context().lookups["e"]("sample"),
                                  (panel["age"] > 8).astype(float))
    assert float(s.run("display e(N)")) == len(sub)
    assert s.run("display %5.2f _b[x]") == f"{via_if.fixef['x']:5.2f}"


def test_estimates_table_and_recovariance(panel):
    s = _session(mejax.datasets.load("sleepstudy"))
    s.run("mixed Reaction Days || Subject: Days, covariance(unstructured)")
    res = s.results
    s.run("estimates store full")
    s.run("mixed Reaction Days || Subject:")
    table = s.run("estimates table full ., b se p")
    assert "Legend: b/se/p" in table and "full" in table and "active" in table
    days = [row for row in table.splitlines() if row.strip().startswith("Days |")]
    assert f"{res.fixef['Days']:.7g}"[:6] in days[0]
    s.run("estimates restore full")
    out = s.run("estat recovariance")
    vc = res.varcomp.set_index("label")["estimate"]
    rows = {line.split("|")[0].strip(): line.split("|")[1].split()
            for line in out.splitlines()[5:] if "|" in line}
    assert float(rows["Days"][0]) == pytest.approx(vc["var(Days)"], rel=1e-6)
    assert float(rows["_cons"][0]) == pytest.approx(vc["cov(Days,_cons)"], rel=1e-6)
    assert float(rows["_cons"][1]) == pytest.approx(vc["var(_cons)"], rel=1e-6)
    corr = s.run("estat recovariance, correlation")
    assert "correlation matrix" in corr and " 1" in corr
    with pytest.raises(SessionError, match="option bogus not supported"):
        s.run("estimates table full, bogus")
    with pytest.raises(SessionError, match="estimation result nope not found"):
        s.run("estimates table nope")


def test_recovariance_after_melogit():
    s = _session(mejax.datasets.load("cbpp"))
    s.run("melogit incidence i.period || herd:, binomial(size) laplace")
    out = s.run("estat recovariance")
    var = s.results.varcomp["estimate"].iloc[0]
    assert "level herd" in out and fmt(var, 11).strip() in out
