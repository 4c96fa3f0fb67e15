"""Command-line program: ``mejax "mixed y x || id: x, reml" --data sleepstudy``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import pandas as pd


def _load(data: str) -> pd.DataFrame:
    from . import datasets

    path = Path(data)
    if path.suffix in (".csv", ".gz") or path.exists():
        if not path.exists():
            raise SystemExit(f"mejax: data file {data!r} not found")
        return pd.read_csv(path)
    try:
        return datasets.load(data)
    except KeyError as err:
        raise SystemExit(f"mejax: {err.args[0]}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mejax",
        description="Fit a mixed model from a Stata command line or an lme4-style formula.",
    )
    parser.add_argument("model", nargs="?", help="Stata command ('mixed y x || id:') or formula "
                        "('y ~ x + (1 | id)')")
    parser.add_argument("--data", help="CSV file or bundled data set name")
    parser.add_argument("--reml", action="store_true", help="REML (linear models: a formula "
                        "without --family, or a mixed command)")
    parser.add_argument("--family", help="GLMM family for a formula: binomial, poisson, "
                        "nbinomial or ordinal (Stata commands name it: melogit, ...)")
    parser.add_argument("--link", help="GLMM link (logit, probit, cloglog, log)")
    parser.add_argument("--method", help="GLMM integration: mvaghq (default), mcaghq, ghq, laplace")
    parser.add_argument("--nodes", type=int, help="GLMM integration points per dimension")
    parser.add_argument("--list-datasets", action="store_true", help="list bundled data sets")
    parser.add_argument("--csv", help="also write all estimates to this CSV file")
    parser.add_argument("--stset", metavar="SPEC", help="survival settings for mestreg, as "
                        "after Stata's stset: 'time, failure(fail) enter(t0)'")
    parser.add_argument("--do", metavar="FILE", help="run a do-file of Stata commands (use, "
                        "generate, mixed, melogit, predict, margins, ...), on --data if given")
    args = parser.parse_args(argv)

    from . import datasets
    from .api import meglm, mixed, stata
    from .api_checks import BinaryOutcomeWarning
    from .spec.design import DataError
    from .spec.model import SpecError

    if args.list_datasets:
        print("\n".join(datasets.names()))
        return 0
    if args.do:
        return _run_do(args.do, args.data, parser)
    if not args.model or not args.data:
        parser.error("a model and --data are required")
    frame = _load(args.data)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BinaryOutcomeWarning)
            if "~" in args.model and args.family:
                if args.reml:
                    raise SpecError("--reml is for linear models; GLMMs (--family) are fitted "
                                    "by maximum likelihood")
                result = meglm(args.model, frame, args.family, args.link, method=args.method,
                               nodes=args.nodes)
            elif "~" in args.model:
                result = mixed(args.model, frame, reml=args.reml)
            else:
                result = stata(_with_reml(args.model) if args.reml else args.model, frame,
                               st=args.stset)
    except (SpecError, DataError) as err:
        print(f"mejax: {err}", file=sys.stderr)
        return 2
    for warning in caught:
        if issubclass(warning.category, BinaryOutcomeWarning):
            hint = " (or --family binomial)" if "~" in args.model else ""
            print(f"mejax: warning: {warning.message}{hint}", file=sys.stderr)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    print(result.summary())
    if args.csv:
        result.to_frame().to_csv(args.csv, index=False)
    return 0


def _with_reml(command: str) -> str:
    """``--reml`` on a Stata command line: add the ``reml`` option to ``mixed``."""
    from .spec.formula import split_top
    from .spec.model import SpecError

    words = command.split()
    if not words or words[0] not in ("mixed", "xtmixed"):
        raise SpecError(f"--reml is for linear models (mixed); {words[0] if words else 'it'} "
                        "is fitted by maximum likelihood")
    last = split_top(command, ("||",))[-1][1]
    return command + (" reml" if "," in last else ", reml")


def _run_do(path: str, data: str | None, parser) -> int:
    """``mejax --do file.do --data name|csv``: run the do-file, printing Stata's log."""
    from .session import StataSession
    from .spec.design import DataError
    from .spec.model import SpecError

    if not Path(path).exists():
        print(f"mejax: do-file {path!r} not found", file=sys.stderr)
        return 2
    session = StataSession(_load(data) if data else None)
    try:
        session.run_do(Path(path).read_text())
    except (SpecError, DataError) as err:
        print(f"mejax: {err}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    """The ``mejax`` program: :func:`main`, then exit without the interpreter's teardown.

    Tearing down a process that imported JAX (its modules, backends and atexit hooks)
    took 0.33 s of a 1 s ``python -c "import jax"`` here, a fifth of a warm command; the
    output is flushed first and nothing is left to write (compiled programs are saved
    when they are built). An error or ``--help`` still exits the ordinary way.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


if __name__ == "__main__":
    run()
