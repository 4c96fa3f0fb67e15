"""StataSession: command lines in order, do-files, and the command-line program."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mejax
from mejax.cli import main
from mejax.session import SessionError, parse_do

REF = Path(__file__).parent / "reference"

SEQUENCE = """
mixed y x1 x2 i.a || id:
predict re, reffects reses(re_se)
estat icc
test x1=1
margins a
marginsplot
estimates store model1
lrtest model1 model2
mixed y x1 x2 i.a || id:, reml dfmethod(kroger)
"""


@pytest.fixture()
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "margins_sim.csv")


def _needs_predict():
    if not all(hasattr(mejax.MixedResult, m) for m in ("predict", "ranef", "icc")):
        pytest.skip("MixedResult.predict/ranef/icc not available yet")


def _dfmethod_supported(data) -> bool:
    try:
        mejax.stata("mixed y x1 || id:, reml dfmethod(kroger)", data)
    except mejax.SpecError as err:
        if "dfmethod" in str(err):
            return False
        raise
    return True


def test_issue_sequence(data):
    _needs_predict()
    session = mejax.StataSession(data, echo=False)
    session.run("mixed y x1 i.a || id:")
    session.run("estimates store model2")
    lines = parse_do(SEQUENCE)
    if not _dfmethod_supported(data):
        lines = lines[:-1]
    outputs = [session.run(line) for line in lines]
    fit = session.stored["model1"]
    assert "Mixed-effects ML regression" in outputs[0]
    # predict re, reffects reses(re_se): BLUPs and their SEs per observation
    ranef = fit.ranef(se=True)["id"]
    first = session.data.groupby("id")["re"].first()
    np.testing.assert_allclose(first.to_numpy(), ranef["_cons"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(session.data.groupby("id")["re_se"].first().to_numpy(),
                               ranef["se__cons"].to_numpy(), rtol=1e-10)
    assert "ntraclass correlation" in outputs[2]
    assert "( 1)  [y]x1 = 1" in outputs[3]
    assert "Predictive margins" in outputs[4]
    assert len(session.figures) == 1
    assert "Likelihood-ratio test" in outputs[7]
    assert "Assumption: model2 nested within model1" in outputs[7]
    lr = mejax.lrtest(fit, session.stored["model2"])
    assert f"{lr['chi2']:.2f}" in outputs[7]
    if len(lines) == 9:
        assert session.results.reml and "REML" in outputs[8]


def test_predict_dispatch(data):
    _needs_predict()
    session = mejax.StataSession(data, echo=False)
    session.run("mixed y x1 x2 i.a || id:")
    res = session.results
    assert "xb assumed" in session.run("predict xb1")
    np.testing.assert_allclose(session.data["xb1"], res.design.x @ res.fixef.to_numpy())
    session.run("predict fit, fitted")
    session.run("predict r, residuals")
    np.testing.assert_allclose(session.data["y"] - session.data["fit"], session.data["r"],
                               atol=1e-10)
    session.run("predict u*, reffects")
    assert "u1" in session.data.columns
    with pytest.raises(SessionError, match="already defined"):
        session.run("predict fit")
    with pytest.raises(SessionError, match="option bogus not allowed"):
        session.run("predict z, bogus")


def test_commands_without_predict(data):
    session = mejax.StataSession(data, echo=False)
    with pytest.raises(SessionError, match="last estimates not found"):
        session.run("margins a")
    session.run("quietly mixed y x1 x2 i.a || id:")
    res = session.results
    assert session.run("lincom x1 - x2")  # a table
    assert "df        chi2" in session.run("contrast a")
    assert "3 vs 2" in session.run("pwcompare a")
    assert "AIC" in session.run("estat ic")
    assert session.run("testparm i.a") == str(res.test("2.a 3.a"))
    out = session.run("display _b[x1] + 2")
    assert float(out) == pytest.approx(res.fixef["x1"] + 2)
    assert session.run('display "hello"') == "hello"
    session.run("estimates store full")
    session.run("mixed y x1 || id:")
    assert "LR chi2(3)" in session.run("lrtest full .")
    session.run("estimates restore full")
    assert session.results is res
    with pytest.raises(SessionError, match="unrecognized command: regress"):
        session.run("regress y x1")
    with pytest.raises(SessionError, match="estimation result nope not found"):
        session.run("lrtest nope .")
    with pytest.raises(mejax.SpecError, match="x9 not found"):
        session.run("test x9")
    with pytest.raises(mejax.SpecError, match="previous command was not margins"):
        session.run("marginsplot")


def test_parse_do():
    text = """* a comment line
    mixed y x1 ///
        x2 || id:   // trailing comment
    /* block
       comment */ test x1=1
    """
    assert parse_do(text) == ["mixed y x1 x2 || id:", "test x1=1"]


def test_do_file_and_cli(data, tmp_path, capsys):
    csv = tmp_path / "d.csv"
    data.to_csv(csv, index=False)
    do = tmp_path / "m.do"
    do.write_text("mixed y x1 x2 i.a || id:\nestimates store big\n"
                  "mixed y x1 i.a || id:\nlrtest big .\nmargins, at(x1=(0 1))\n"
                  f"marginsplot, saving({tmp_path / 'p.png'}, replace)\n")
    session = mejax.StataSession(data, echo=False)
    log = session.run_do(do)
    assert ". lrtest big ." in log and "Likelihood-ratio test" in log
    assert (tmp_path / "p.png").exists()
    assert main(["--do", str(do), "--data", str(csv)]) == 0
    assert "Assumption: . nested within big" in capsys.readouterr().out
    bad = tmp_path / "bad.do"
    bad.write_text("mixed y x1 || id:\nfoo bar\n")
    assert main(["--do", str(bad), "--data", str(csv)]) == 2
    assert "unrecognized command: foo" in capsys.readouterr().err
    # the model-line usage still works
    assert main(["mixed y x1 || id:", "--data", str(csv)]) == 0
