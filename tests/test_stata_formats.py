"""Stata's display formats, base levels, eform notes and tables, against Stata's printed output.

Published references: W. Gould's %12.0g examples (Statalist, 2003-04, "Determining the
width of a formatted value"), the cells of Stata's own `mixed ... allbase` example
(tests/reference: /work/shared/seed page, Stata's multilevel mixed-effects overview) and
the strings issue 18 quotes from Stata (`Wald chi2(1) = 45.05`, `F(5, 765.21) = 2717.00`,
`.0003142`, `[distance]age = .5`).
"""

from __future__ import annotations

import copy
import math
import re

import pytest

import mejax
from mejax.results.stata_table import render_summary
from mejax.session import SessionError, StataSession
from mejax.text import fixed, fmt, general, stata_format

# display %12.0g x, as printed by Stata (Gould, Statalist 2003-04)
GOULD_12_0G = [
    (math.pi, "3.141592654"), (math.pi * 10, "31.41592654"), (math.pi * 1e5, "314159.2654"),
    (math.pi * 1e8, "314159265.4"), (math.pi * 1e9, "3141592654"),
    (math.pi * 1e10, "3.14159e+10"), (math.pi * 1e-1, ".3141592654"),
    (math.pi * 1e-4, ".0003141593"), (math.pi * 1e-5, ".0000314159"),
    (math.pi * 1e-6, "3.14159e-06"),
]

# %9.0g cells of Stata's `mixed y x1 x2 i.a || id:, allbase` (the value, one digit more)
SEED_9_0G = [(0.00031421, ".0003142"), (0.47748757, ".4774876"), (2.2988254, "2.298825"),
             (0.1350290, ".135029"), (0.0132720, ".013272"), (-1.5498543, "-1.549854"),
             (17.0, "17"), (822.626351, "822.6264")]


@pytest.mark.parametrize(("x", "text"), GOULD_12_0G)
def test_general_format_as_stata_prints_12_0g(x, text):
    assert general(x, 12) == text


@pytest.mark.parametrize(("x", "text"), SEED_9_0G)
def test_table_cells_are_9_0g(x, text):
    assert general(x, 9) == text
    assert fmt(x) == text.rjust(10)


def test_fixed_and_display_formats():
    assert fixed(45.04646) == "45.05" and fixed(2716.996) == "2717.00"
    assert general(822.62635, 10) == "822.62635"  # Stata's "Log likelihood = 822.62635"
    assert general(1 / 3, 10) == ".33333333" and general(0.5, 10) == ".5"
    assert general(1e10, 10) == "1.000e+10" and general(0, 9) == "0"
    assert general(12345678, 9) == "1.23e+07" and general(1234567.8, 9) == "1234568"
    assert stata_format(0.5, "%9.3f") == "    0.500"  # %f keeps the leading zero
    assert stata_format(0.5, "%-6.2f") == "0.50  "
    assert stata_format(1234567, "%12.0gc") == "   1,234,567"
    assert stata_format(float("nan"), "%9.2f") == "        ."
    with pytest.raises(ValueError, match="invalid format"):
        stata_format(1.0, "%9.2q")


@pytest.fixture(scope="module")
def orthodont_session():
    s = StataSession(mejax.datasets.load("orthodont"), echo=False)
    s.run("mixed distance age i.female || Subject:")
    return s


def _coef_rows(text: str) -> dict[str, str]:
    return {line.split("|")[0].strip(): line for line in text.splitlines() if "|" in line}


def test_base_levels_hidden_unless_asked(orthodont_session):
    res = orthodont_session.results
    default = str(res.summary())
    assert "(base)" not in default and "female |" in default
    shown = copy.copy(res)
    for option in ("baselevels", "allbaselevels"):
        shown.options = {**res.options, option: True}
        rows = _coef_rows(render_summary(shown))
        assert rows["0"].split("|")[1] == "          0  (base)"
    header = [line for line in default.splitlines() if "Wald chi2(2)" in line]
    assert header and header[0].endswith(f"{fixed(res.wald_test['chi2']):>10}")
    assert re.search(r"Log likelihood = -\d{3}\.\d{5}\b", default)  # %10.0g


def test_test_and_display_print_stata_numbers(orthodont_session):
    s = orthodont_session
    assert " ( 1)  [distance]age = .5" in s.run("test age = 0.5")
    assert s.run("display 0.5") == ".5"
    assert s.run("display 1/3") == ".33333333"
    assert s.run('display "b = " %6.3f _b[age]') == f"b = {s.results.fixef['age']:6.3f}"


def test_set_showbaselevels(orthodont_session):
    s = StataSession(orthodont_session.data, echo=False)
    s.run("set showbaselevels on")
    assert "          0  (base)" in s.run("mixed distance age i.female || Subject:")
    s.run("set showbaselevels off")
    assert "(base)" not in s.run("mixed distance age i.female || Subject:")
    with pytest.raises(Exception, match="use on, off or all"):
        s.run("set showbaselevels maybe")


@pytest.fixture(scope="module")
def odds_ratios():
    data = mejax.datasets.load("cbpp")
    data["sick"] = (data["incidence"] > 0).astype(float)
    return mejax.stata("melogit sick i.period || herd:, or baselevels laplace", data)


def test_eform_base_row_and_notes(odds_ratios):
    text = str(odds_ratios.summary())
    rows = _coef_rows(text)
    assert rows["1"].split("|")[1] == "          1  (base)"
    lines = text.splitlines()
    first = lines.index("Note: Estimates are transformed only in the first equation to "
                        "odds ratios.")
    assert lines[first + 1] == ("Note: _cons estimates baseline odds (conditional on zero "
                                "random effects).")
    assert lines[first + 2].startswith("LR test vs. logistic model")
    assert rows["2"].split("|")[1].split()[0] == general(
        math.exp(odds_ratios.fixef["2.period"]), 9)


@pytest.fixture(scope="module")
def sleep_fits():
    data = mejax.datasets.load("sleepstudy")
    return (mejax.mixed("Reaction ~ Days + (1 | Subject)", data),
            mejax.mixed("Reaction ~ Days + (Days | Subject)", data))


def test_formula_fit_in_stata_layout_says_cons(sleep_fits):
    text = str(sleep_fits[1].summary())
    assert "Intercept" not in text
    rows = [line.split("|")[0].strip() for line in text.splitlines() if "|" in line]
    assert rows.index("Days") < rows.index("_cons")  # Stata lists the constant last
    assert "var(_cons)" in rows and "cov(_cons,Days)" in rows


def test_lrtest_prints_one_conservative_note(sleep_fits):
    out = str(mejax.lrtest(sleep_fits[0], sleep_fits[1]))
    assert out.count("conservative") == 1
    assert "reported test is conservative." in out


def test_estimates_table_star_keep_and_t(sleep_fits):
    s = StataSession(mejax.datasets.load("sleepstudy"), echo=False)
    s.results = sleep_fits[0]
    s.run("estimates store small")
    s.results = sleep_fits[1]
    s.run("estimates store big")
    starred = s.run("estimates table small big, star keep(Days)")
    days = _coef_rows(starred)["Days"]
    assert days.count("***") == 2
    assert starred.splitlines()[-1].strip() == "Legend: * p<0.05; ** p<0.01; *** p<0.001"
    assert "(Intercept)" not in starred and "var(Residual)" not in starred
    with_t = s.run("estimates table small big, b(%7.2f) t drop(var(Residual))")
    assert "Legend: b/t" in with_t
    assert f"{sleep_fits[0].fixef['Days']:.2f}" in _coef_rows(with_t)["Days"]
    with pytest.raises(SessionError, match="star not allowed with se"):
        s.run("estimates table small big, star se")


def test_iteration_log_as_stata_prints_it(orthodont_session, sleep_fits):
    res = orthodont_session.results  # a Stata command line: the log by default
    text = str(res.summary())
    lines = text.splitlines()
    assert lines[0] == "Performing gradient-based optimization:"
    steps = [line for line in lines if line.startswith("Iteration ")]
    assert steps[0].startswith("Iteration 0:  Log likelihood = ")
    assert steps[-1] == f"Iteration {len(steps) - 1}:{' ' if len(steps) > 10 else '  '}" \
                        f"Log likelihood = {general(res.loglik, 10)}"
    assert "Computing standard errors ..." in text
    values = res.iterations
    assert values[-1] == pytest.approx(res.loglik, abs=1e-8) and values[0] < values[-1]
    quiet = copy.copy(res)
    quiet.options = {**res.options, "nolog": True}
    assert "Iteration" not in render_summary(quiet)
    formula = sleep_fits[0]  # formula fits: only when asked for
    assert "Iteration" not in str(formula.summary())
    assert "Iteration 0:" in str(formula.iteration_log())


def test_a_do_file_with_stata_output(orthodont_session):
    s = StataSession(orthodont_session.data, echo=False)
    log = s.run_do("""
version 17
set showbaselevels all
mixed distance age i.female || Subject:, nolog
estimates store m1
capture noisily estat bogus
display _rc
estimates table m1, star
display %9.3f _b[age]
""")
    assert "          0  (base)" in log and "Iteration" not in log
    rc = re.search(r"\. display _rc\n(\d+)", log)
    assert rc and int(rc.group(1)) != 0
    assert "Legend: * p<0.05; ** p<0.01; *** p<0.001" in log
    assert log.rstrip().endswith(f"{s.results.fixef['age']:9.3f}")


def test_me_commands_show_random_effects_in_the_table(odds_ratios):
    lines = str(odds_ratios.summary()).splitlines()
    assert not any("Random-effects parameters" in line for line in lines)
    top = next(i for i, line in enumerate(lines) if line.startswith("Log likelihood"))
    assert lines[top + 1] == "-" * 78  # Stata's me* header runs into the table
    herd = lines.index("herd         |")
    assert lines[herd - 1] == "-" * 13 + "+" + "-" * 64
    var = odds_ratios.varcomp["estimate"].iloc[0]
    assert lines[herd + 1].startswith("   var(_cons)| " + fmt(var))


def test_replay_shows_no_iteration_log(orthodont_session):
    s = orthodont_session
    assert "Iteration 0:" in str(s.results.summary())
    s.run("estimates store fitted")
    replay = s.run("estimates replay")
    assert "Iteration" not in replay and "Mixed-effects ML regression" in replay
