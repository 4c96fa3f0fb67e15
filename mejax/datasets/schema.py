"""Column types of the bundled data sets, as their sources document them.

Each factor of the original R data set (lme4, nlme, mlmRev, MASS, ordinal) is
a :class:`Factor`: its levels in the source's order (``"sorted"`` for long
numeric level lists in increasing order) and whether it is ordered. Columns
the export recoded to numbers (``female``, ``c_use``, ``urban``, ``trt``,
``warm``, ``contact``) stay numeric; :class:`Derived` columns rebuild an
original factor from them (``orthodont$Sex``, ``contraception$livch``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Factor", "Derived", "SCHEMAS", "apply_schema"]


@dataclass(frozen=True)
class Factor:
    """A categorical column: ``levels`` in order (or "sorted"), ``ordered`` as R's."""

    levels: tuple | str = "sorted"
    ordered: bool = False


@dataclass(frozen=True)
class Derived:
    """A factor of the source rebuilt from the exported columns."""

    build: Callable[[pd.DataFrame], np.ndarray]
    levels: tuple
    ordered: bool = False


def _letters(first: str, count: int) -> tuple[str, ...]:
    return tuple(chr(ord(first) + i) for i in range(count))


def _livch(frame: pd.DataFrame) -> np.ndarray:
    """mlmRev's livch (0, 1, 2, 3+ living children) from the child1-3 indicators."""
    codes = frame["child1"] + 2 * frame["child2"] + 3 * frame["child3"]
    return np.array(["0", "1", "2", "3+"], dtype=object)[codes.to_numpy(int)]


def _soybean_plots() -> tuple[str, ...]:
    """nlme's Soybean$Plot levels (ordered by nlme within each year)."""
    order = {1988: "F4 F2 F1 F7 F5 F8 F6 F3 P1 P5 P4 P8 P7 P3 P2 P6",
             1989: "F6 F5 F4 F1 F2 F7 F8 F3 P7 P4 P6 P5 P1 P3 P2 P8",
             1990: "F2 F3 F4 F5 F1 F8 F7 F6 P8 P7 P3 P1 P6 P5 P2 P4"}
    return tuple(f"{year}{plot}" for year, plots in order.items() for plot in plots.split())


SCHEMAS: dict[str, dict[str, Factor | Derived]] = {
    "sleepstudy": {"Subject": Factor((308, 309, 310, 330, 331, 332, 333, 334, 335, 337, 349,
                                      350, 351, 352, 369, 370, 371, 372))},
    "penicillin": {"plate": Factor(_letters("a", 24)), "sample": Factor(_letters("A", 6))},
    "pastes": {"batch": Factor(_letters("A", 10)), "cask": Factor(_letters("a", 3)),
               "sample": Factor(tuple(f"{b}:{c}" for b in _letters("A", 10)
                                      for c in _letters("a", 3)))},
    "orthodont": {
        "Subject": Factor(("M16", "M05", "M02", "M11", "M07", "M08", "M03", "M12", "M13",
                           "M14", "M09", "M15", "M06", "M04", "M01", "M10", "F10", "F09",
                           "F06", "F01", "F05", "F07", "F02", "F08", "F03", "F04", "F11"),
                          ordered=True),
        "Sex": Derived(lambda f: np.where(f["female"] == 1, "Female", "Male"),
                       ("Male", "Female")),
    },
    "dyestuff2": {"Batch": Factor(_letters("A", 6))},
    "ovary": {"Mare": Factor((4, 2, 11, 7, 5, 9, 1, 6, 10, 3, 8), ordered=True)},
    "cbpp": {"herd": Factor(tuple(range(1, 16))), "period": Factor((1, 2, 3, 4))},
    "contraception": {"district": Factor("sorted"),
                      "livch": Derived(_livch, ("0", "1", "2", "3+"))},
    "epilepsy": {},  # MASS::epil: subject and period are integers there too
    "wine": {"judge": Factor(tuple(range(1, 10)))},
    "insteval": {"s": Factor("sorted"), "d": Factor("sorted"),
                 "dept": Factor((15, 5, 10, 12, 6, 7, 4, 8, 9, 14, 1, 3, 11, 2)),
                 "service": Factor((0, 1)), "studage": Factor((2, 4, 6, 8), ordered=True),
                 "lectage": Factor((1, 2, 3, 4, 5, 6), ordered=True)},
    "apiclus2": {"stype": Factor(("E", "H", "M"))},  # dnum, snum: district and school codes
    # nlme's grouped data sets for menl (levels ordered by nlme, as R prints them)
    "orange": {"Tree": Factor((3, 1, 5, 2, 4), ordered=True)},
    "soybean": {"Plot": Factor(_soybean_plots(), ordered=True),
                "Variety": Factor(("F", "P")), "Year": Factor((1988, 1989, 1990))},
    "loblolly": {"Seed": Factor((329, 327, 325, 307, 331, 311, 315, 321, 319, 301, 323, 309,
                                 303, 305), ordered=True)},
    "theoph": {"Subject": Factor((6, 7, 8, 11, 3, 2, 4, 9, 12, 10, 1, 5), ordered=True)},
}


def apply_schema(frame: pd.DataFrame, schema: dict[str, Factor | Derived]) -> pd.DataFrame:
    """The frame with its factors as categoricals (values outside the levels are an error)."""
    out = frame.copy()
    for name, kind in schema.items():
        values = kind.build(out) if isinstance(kind, Derived) else out[name]
        levels = kind.levels
        if levels == "sorted":
            levels = tuple(sorted(pd.unique(values)))
        col = pd.Categorical(values, categories=list(levels), ordered=kind.ordered)
        if pd.isna(col).sum() != pd.isna(values).sum():
            raise ValueError(f"bundled column {name!r} has values outside its levels")
        out[name] = col
    return out
