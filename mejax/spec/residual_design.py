"""Host-side data of a residual structure: groups, time, by-levels, validated.

Checked here, before anything is traced: a time variable with duplicates
within a group, a non-integer time for the lag-based structures, an order
larger than the groups allow, a by() variable that changes within a group for
a correlated structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import DataError, SpecError
from .residuals import INTEGER_TIME_TYPES, Residuals


@dataclass
class ResidualDesign:
    spec: Residuals
    group_label: str
    codes: np.ndarray  # (n,) residual-group code of each row
    n_groups: int
    time: np.ndarray  # (n,) time values (1, 2, ... in data order when t() is absent)
    by_codes: np.ndarray  # (n,) by-level of each row (all 0 without by())
    by_labels: list[str]
    order: int  # resolved order / number of bands (0 where it does not apply)
    time_levels: np.ndarray  # sorted distinct time values

    @property
    def kind(self) -> str:
        return self.spec.type

    @property
    def max_group_size(self) -> int:
        return int(np.bincount(self.codes, minlength=self.n_groups).max())


def _time_in_data_order(codes: np.ndarray, n_groups: int) -> np.ndarray:
    return pd.Series(codes).groupby(codes).cumcount().to_numpy(dtype=float) + 1.0


def build_residual_design(spec: Residuals, frame, codes: np.ndarray, n_groups: int,
                          group_label: str) -> ResidualDesign:
    kind = spec.type
    if spec.t is not None:
        if not frame.numeric[spec.t]:
            raise DataError(f"time variable {spec.t!r} in residuals() must be numeric")
        time = frame.values(spec.t)
    else:
        time = _time_in_data_order(codes, n_groups)
    t_name = spec.t or "the observation order"
    if spec.uses_time:
        if kind in INTEGER_TIME_TYPES and not np.all(time == np.round(time)):
            bad = time[time != np.round(time)][0]
            raise DataError(
                f"residuals({kind}) needs an integer time variable; {spec.t!r} has {bad!r}"
            )
        keys = pd.DataFrame({"g": codes, "t": time})
        dup = keys.duplicated()
        if dup.any():
            row = keys[dup].iloc[0]
            raise DataError(
                f"time variable {t_name!r} has repeated values within {group_label!r} "
                f"(value {row['t']:g} appears twice in one group); residuals({kind}) needs "
                "distinct times within each group"
            )
    if spec.by is not None:
        by_codes, by_levels = pd.factorize(frame[spec.by], sort=True)
        by_labels = [_label(v) for v in by_levels]
        if kind != "independent":
            if not constant_within(by_codes, codes, n_groups):
                raise DataError(
                    f"by({spec.by}) must be constant within {group_label!r} for "
                    f"residuals({kind}); use by() with a group-level variable"
                )
    else:
        by_codes, by_labels = np.zeros(len(codes), dtype=np.int64), [""]
    time_levels = np.unique(time)
    design = ResidualDesign(spec, group_label, codes, n_groups, time,
                            by_codes.astype(np.int64), by_labels, 0, time_levels)
    design.order = _resolve_order(design)
    return design


def _resolve_order(design: ResidualDesign) -> int:
    spec, kind = design.spec, design.kind
    if kind not in ("ar", "ma", "toeplitz", "banded", "banded_correlation"):
        return 0
    size = design.max_group_size
    by_times = kind in ("banded", "banded_correlation")
    limit = len(design.time_levels) - 1 if by_times else size - 1
    if spec.order is None:
        return max(limit, 0)
    if spec.order > limit:
        raise DataError(
            f"residuals({kind} {spec.order}): the order is larger than the groups allow; the "
            f"largest group of {design.group_label!r} has {size} observation(s)"
            + (f" at {len(design.time_levels)} distinct times" if by_times else "")
            + f", so the order can be at most {limit}"
        )
    return spec.order


def constant_within(values: np.ndarray, groups: np.ndarray, n_groups: int) -> bool:
    """Whether ``values`` take one value in every group (groups coded 0..n_groups-1)."""
    first = np.zeros(n_groups, dtype=np.asarray(values).dtype)
    first[groups[::-1]] = values[::-1]  # the last write wins: each group's first value
    return bool(np.all(values == first[groups]))


def _label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def check_nested(term_codes: list[tuple[str, np.ndarray]], design: ResidualDesign) -> None:
    """Every random-effects level must be constant within a residual group."""
    for label, codes in term_codes:
        if not constant_within(codes, design.codes, design.n_groups):
            raise SpecError(
                f"random effects at {label!r} vary within the residual groups "
                f"{design.group_label!r}; residual structures need the random-effects levels "
                "nested above the residual group (crossed effects are not supported with "
                "residuals())"
            )
