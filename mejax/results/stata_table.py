"""Stata-style text rendering of a mixed-model result (notebooks show the same text)."""

from __future__ import annotations

import numpy as np

from ..inference.dof import TITLES
from ..inference.sandwich import TITLES as VCE_TITLES
from ..text import LINE, fmt


def _title(res) -> str:
    title = res.title or f"Mixed-effects {res.method} regression"
    return f"Survey: {title}" if res.survey else title


def _survey_lines(res) -> list[str]:
    """Stata's svy header: strata, PSUs, population size, design df."""
    units = res.sampling
    return [_pair(f"Number of strata = {units.n_strata:>6,}", ("Number of obs", f"{res.nobs:,}")),
            _pair(f"Number of PSUs   = {units.n_psu:>6,}",
                  ("Population size", f"{res.population:,.0f}")),
            _pair("", ("Design df", f"{units.design_df:,}"))]


def _header(res) -> list[str]:
    title = _title(res)
    out = [*res.preamble, ""] if res.preamble else []
    groups = res.groups
    if res.survey:  # title and design first; the groups below them
        out += [title, ""] + _survey_lines(res) + [""]
    else:
        out.append(_pair(title, ("Number of obs", f"{res.nobs:,}")))
    for left, name, value in res.header_rows:  # censoring counts, failures, time at risk
        out.append(_pair(left, (name, value)))
    if len(groups) == 1:
        g = groups.iloc[0]
        left = [f"Group variable: {g['group']}", "", "", "", ""]
        right = [("Number of groups", f"{g['n_groups']:,}"), ("Obs per group:", None),
                 ("min", f"{g['min']:,}"), ("avg", f"{g['avg']:.1f}"), ("max", f"{g['max']:,}")]
        if res.header_rows:
            out.append("")
        for i in range(max(len(left), len(right))):
            lt = left[i] if i < len(left) else ""
            out.append(_pair(lt, right[i] if i < len(right) else None))
    else:
        if not res.survey:
            out.append("")
        out += _group_table(groups)
    wald = res.wald_test
    out.append("")
    if res.shows_integration:  # GLMMs: Stata's integration line
        points = ("Integration pts.", f"{res.nodes}")
        out += [_pair(f"Integration method: {res.method}", points), ""]
    kind = "pseudolikelihood" if res.pseudo else "likelihood"
    loglik = f"Log {'restricted-' if res.reml else ''}{kind} = {res.loglik:.8g}"
    prob = "." if not np.isfinite(wald["p"]) else f"{wald['p']:.4f}"
    if res.survey:  # the adjusted Wald F on the design df
        f_name = f"F({wald['df1']}, {wald['df2']:g})" if wald["df"] else "F(0, .)"
        out.append(_pair("", (f_name, fmt(wald.get("F", np.nan), 10).strip())))
        out.append(_pair(loglik, ("Prob > F", prob)))
        return out
    if res.df is not None:  # Stata's dfmethod() header: DF summary and the F test
        return out[:-1] + _df_lines(res, wald, loglik, prob)
    out.append(_pair("", (f"Wald chi2({wald['df']})", fmt(wald["chi2"], 10).strip())))
    out.append(_pair(loglik, ("Prob > chi2", prob)))
    return out


def _df_lines(res, wald, loglik: str, prob: str) -> list[str]:
    df = res.df.to_numpy()
    f_name = f"F({wald['df1']}, {wald['df2']:.2f})" if wald["df1"] else "F(0, .)"
    first = f"{'DF method: ' + TITLES[res.dfmethod]:<48}DF:"
    first += _pair("", ("min", f"{df.min():.2f}"))[51:]
    return [first, _pair("", ("avg", f"{df.mean():.2f}")),
            _pair("", ("max", f"{df.max():.2f}")), "",
            _pair("", (f_name, fmt(wald["F"], 10).strip())), _pair(loglik, ("Prob > F", prob))]


def _pair(left: str, right) -> str:
    if right is None:
        return left
    name, value = right
    if value is None:
        return f"{left:<48}{name}"
    if name in ("min", "avg", "max"):
        return f"{left:<48}{name:>17} = {value:>10}"
    return f"{left:<48}{name:<17} = {value:>10}"


def _group_table(groups) -> list[str]:
    rule = "-" * 61
    out = [rule, f"{'':16}|     No. of       Observations per group",
           f"{'Group variable':>15} |     groups    Minimum    Average    Maximum",
           "-" * 16 + "+" + "-" * 44]
    for _, g in groups.iterrows():
        out.append(f"{str(g['group'])[:15]:>15} | {g['n_groups']:>10,} {g['min']:>10,} "
                   f"{g['avg']:>10.1f} {g['max']:>10,}")
    out.append(rule)
    return out


def _coef_table(res) -> list[str]:
    level = int(res.level) if float(res.level).is_integer() else res.level
    stat = "t" if res.df is not None else "z"
    coef = res.eform or "Coefficient"
    vce = VCE_TITLES.get(res.vce)
    out = ["-" * LINE] + ([f"{'':13}|{vce:>25}"] if vce else []) + [
           f"{res.response_label[:12]:>12} | {coef:>11}  Std. err.      {stat}    P>|{stat}|     "
           f"[{level}% conf. interval]",
           "-" * 13 + "+" + "-" * (LINE - 14)]
    table = res.coef_table
    bases = {c.term: c for c in res.design.base_columns}
    allbase = bool(res.options.get("allbase"))
    shown_headers: set[str] = set()
    for col in res.design.columns:
        row = table.loc[col.name]
        if col.term is not None:
            if col.term not in shown_headers:
                shown_headers.add(col.term)
                out.append(f"{col.term[:12]:>12} |")
                base = bases.get(col.term)
                if base is not None and (allbase or "#" not in col.term):
                    out.append(f"{base.level[:12]:>12} |          0  (base)")
            label = col.level
        else:
            label = col.name
        out.append(_coef_line(label, row, coef, stat))
    for name in res.omitted:
        out.append(f"{name[:12]:>12} |          0  (omitted)")
    aux = res.aux
    if aux is not None and not aux.empty:  # /cut1 ..., /lnalpha; then p, 1/p, sigma
        derived = aux["z"].isna().to_numpy()
        for block in (aux[~derived], aux[derived]):
            if block.empty:
                continue
            out.append("-" * 13 + "+" + "-" * (LINE - 14))
            for name, row in block.iterrows():
                out.append(_coef_line(name, row, "Coefficient", "z", show_test=False))
    out.append("-" * LINE)
    return out


def _coef_line(label: str, row, coef: str, stat: str, show_test: bool = True) -> str:
    test = f"{row[stat]:8.2f}   {row[f'P>|{stat}|']:5.3f}  " if show_test else " " * 19
    return (f"{label[:12]:>12} | {fmt(row[coef])} {fmt(row['Std. err.'])} {test}"
            f"{fmt(row['ci_lower'], 11)} {fmt(row['ci_upper'], 11)}")


def _re_table(res) -> list[str]:
    level = int(res.level) if float(res.level).is_integer() else res.level
    sd_scale = bool(res.options.get("stddeviations"))
    out = ["", "-" * LINE,
           f"  Random-effects parameters  |   Estimate   Std. err.     [{level}% conf. interval]",
           "-" * 29 + "+" + "-" * (LINE - 30)]
    vc = res.varcomp
    for group, rows in vc.groupby("group", sort=False):
        if group == "Residual":
            if not out[-1].startswith("-"):
                out.append("-" * 29 + "+" + "-" * (LINE - 30))
            structure = rows["structure"].iloc[0]
            if structure:
                by = res.design.residual.spec.by
                out.append(f"{'Residual: ' + structure + (',' if by else ''):<28} |")
                if by:
                    out.append(f"{'    by ' + by:<28} |")
        else:
            out.append(f"{group + ': ' + rows['structure'].iloc[0]:<28} |")
        seen = set()
        for _, r in rows.iterrows():
            if r["label"] in seen:
                continue
            seen.add(r["label"])
            label = r["label"]
            if sd_scale:
                label = label.replace("var(", "sd(", 1).replace("cov(", "corr(", 1)
                vals = (r["sd_or_corr"], r["sd_or_corr_se"], r["sd_or_corr_lower"],
                        r["sd_or_corr_upper"])
            else:
                vals = (r["estimate"], r["std_err"], r["ci_lower"], r["ci_upper"])
            out.append(f"{label[-28:]:>28} | {fmt(vals[0])} {fmt(vals[1])}  "
                       f"{fmt(vals[2], 11)} {fmt(vals[3], 11)}")
    out.append("-" * LINE)
    return out


def _lr_line(res) -> list[str]:
    lr = res.lr_test
    p = f"{lr['p']:.4f}"
    stat = f"{lr['chi2']:.2f}"
    versus = lr.get("versus", "linear model")
    if lr["kind"].startswith("chibar2"):
        line = f"LR test vs. {versus}: chibar2(01) = {stat}"
        out = [f"{line:<55}Prob >= chibar2 = {p}"]
    else:
        line = f"LR test vs. {versus}: {lr['kind']} = {stat}"
        out = [f"{line:<59}Prob > chi2 = {p}", "",
               "Note: LR test is conservative and provided only for reference."]
    return out


def render_summary(res) -> str:
    lr = _lr_line(res) if res.lr_test is not None else []
    lines = _header(res) + [""] + _coef_table(res) + _re_table(res) + lr
    for note in res.notes:
        lines.append(f"Note: {note}.")
    return "\n".join(lines)
