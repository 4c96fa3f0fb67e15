"""Command-line program: ``mejax "mixed y x || id: x, reml" --data sleepstudy``."""

from __future__ import annotations

import argparse
import sys
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
    parser.add_argument("--reml", action="store_true", help="REML (formula models)")
    parser.add_argument("--family", help="GLMM family for a formula: binomial, poisson, "
                        "nbinomial or ordinal (Stata commands name it: melogit, ...)")
    parser.add_argument("--link", help="GLMM link (logit, probit, cloglog, log)")
    parser.add_argument("--method", help="GLMM integration: mvaghq (default), mcaghq, ghq, laplace")
    parser.add_argument("--nodes", type=int, help="GLMM integration points per dimension")
    parser.add_argument("--list-datasets", action="store_true", help="list bundled data sets")
    parser.add_argument("--csv", help="also write all estimates to this CSV file")
    parser.add_argument("--do", metavar="FILE", help="run a do-file of Stata commands (mixed, "
                        "predict, test, margins, ...) on --data")
    args = parser.parse_args(argv)

    from . import datasets
    from .api import meglm, mixed, stata
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
        if "~" in args.model and args.family:
            result = meglm(args.model, frame, args.family, args.link, method=args.method,
                           nodes=args.nodes)
        elif "~" in args.model:
            result = mixed(args.model, frame, reml=args.reml)
        else:
            result = stata(args.model, frame)
    except (SpecError, DataError) as err:
        print(f"mejax: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    if args.csv:
        result.to_frame().to_csv(args.csv, index=False)
    return 0


def _run_do(path: str, data: str | None, parser) -> int:
    """``mejax --do file.do --data name|csv``: run the do-file, printing Stata's log."""
    from .session import StataSession
    from .spec.design import DataError
    from .spec.model import SpecError

    if not data:
        parser.error("--do needs --data")
    if not Path(path).exists():
        print(f"mejax: do-file {path!r} not found", file=sys.stderr)
        return 2
    session = StataSession(_load(data))
    try:
        session.run_do(Path(path).read_text())
    except (SpecError, DataError) as err:
        print(f"mejax: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
