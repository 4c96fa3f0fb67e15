"""Data files in a session: ``use``, ``sysuse``, ``import delimited``, ``save``, ``export``.

``.dta`` files go through pandas' Stata reader and writer (value labels become
categoricals and back), anything else is read as delimited text. ``use name``
and ``sysuse name`` also find mejax's bundled data sets when no such file exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from . import datasets
from .stata_expr import ExprError
from .stata_syntax import expand_varlist, split_options

__all__ = ["use", "import_delimited", "save", "export_delimited"]


def _path(text: str, default_suffix: str) -> Path:
    name = text.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    if not name:
        raise ExprError("a file name is needed", rc=100)
    path = Path(name).expanduser()
    return path if path.suffix else path.with_suffix(default_suffix)


def _options(text: str, allowed: tuple[str, ...], command: str) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    for m in re.finditer(r"(\w+)(?:\(([^)]*)\))?", text):
        name = m.group(1).lower()
        full = next((a for a in allowed if a.startswith(name) and len(name) >= min(3, len(a))),
                    None)
        if full is None:
            raise ExprError(f"{command}: option {name} not allowed (allowed: "
                            f"{', '.join(allowed)})", rc=198)
        out[full] = m.group(2) if m.group(2) is not None else True
    return out


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".dta":
        return pd.read_stata(path, convert_categoricals=True)
    return pd.read_csv(path)


def use(rest: str, sysuse: bool = False) -> tuple[pd.DataFrame, str]:
    """``use file [, clear]`` (and ``sysuse name``): the new data and a note."""
    body, opts = split_options(rest)
    _options(opts, ("clear", "nolabel"), "sysuse" if sysuse else "use")
    if re.search(r"\busing\b", body):
        raise ExprError("use varlist using file is not supported; use the whole file and "
                        "keep the variables", rc=198)
    path = _path(body, ".dta")
    if path.exists():
        return _read(path), ""
    bundled = _bundled(body.strip().strip('"'))
    if bundled is not None:
        return bundled, f"(mejax's bundled data set {body.strip()})"
    raise ExprError(f"file {path} not found", rc=601)


def _bundled(name: str) -> pd.DataFrame | None:
    stem = Path(name).stem.lower()
    return datasets.load(stem) if stem in datasets.names() else None


def import_delimited(rest: str) -> tuple[pd.DataFrame, str]:
    """``import delimited [using] file [, clear delimiter(",") varnames(1|nonames) case()]``."""
    body, opts = split_options(rest)
    options = _options(opts, ("clear", "delimiters", "varnames", "case", "encoding"),
                       "import delimited")
    body = re.sub(r"^using\s+", "", body.strip())
    path = _path(body, ".csv")
    if not path.exists():
        raise ExprError(f"file {path} not found", rc=601)
    sep = options.get("delimiters", ",")
    sep = {"tab": "\t", "\\t": "\t", "whitespace": r"\s+"}.get(str(sep).strip('"'),
                                                                str(sep).strip('"'))
    header = None if options.get("varnames") == "nonames" else 0
    frame = pd.read_csv(path, sep=sep, header=header, engine="python" if len(sep) > 1 else "c")
    if header is None:
        frame.columns = [f"v{i + 1}" for i in range(frame.shape[1])]
    case = options.get("case")
    if case == "lower":
        frame.columns = [str(c).lower() for c in frame.columns]
    elif case == "upper":
        frame.columns = [str(c).upper() for c in frame.columns]
    return frame, f"({frame.shape[1]} vars, {len(frame)} obs)"


def save(frame: pd.DataFrame, rest: str) -> str:
    """``save file [, replace]`` as a Stata .dta file."""
    body, opts = split_options(rest)
    options = _options(opts, ("replace",), "save")
    path = _path(body, ".dta")
    _check_overwrite(path, options)
    out = frame.reset_index(drop=True)
    for name in out.columns:  # numeric levels are the values, as a Stata variable holds them
        col = out[name]
        if isinstance(col.dtype, pd.CategoricalDtype) and \
                pd.api.types.is_numeric_dtype(col.cat.categories.dtype):
            out[name] = col.astype(col.cat.categories.dtype)
    try:
        out.to_stata(path, write_index=False, version=118)
    except (ValueError, TypeError) as err:
        raise ExprError(f"save {path}: {err}", rc=198) from None
    return f"file {path} saved"


def export_delimited(frame: pd.DataFrame, rest: str) -> str:
    """``export delimited [varlist] using file [, replace]`` (or ``export delimited file``)."""
    body, opts = split_options(rest)
    options = _options(opts, ("replace", "delimiter", "novarnames"), "export delimited")
    head, sep, target = body.partition(" using ")
    if not sep and body.startswith("using "):
        head, target = "", body[len("using "):]
    elif not sep:
        head, target = "", body
    names = expand_varlist(head, frame.columns) if head.strip() else list(frame.columns)
    path = _path(target, ".csv")
    _check_overwrite(path, options)
    delimiter = str(options.get("delimiter", ",")).strip('"')
    frame[names].to_csv(path, index=False, sep="\t" if delimiter == "tab" else delimiter,
                        header=not options.get("novarnames"))
    return f"file {path} saved"


def _check_overwrite(path: Path, options: dict) -> None:
    if path.exists() and not options.get("replace"):
        raise ExprError(f"file {path} already exists (add , replace)", rc=602)
