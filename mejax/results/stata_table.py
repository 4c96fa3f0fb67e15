"""Stata-style text rendering of a mixed-model result (notebooks show the same text)."""

from __future__ import annotations

import numpy as np

from ..fit.sandwich import TITLES as VCE_TITLES
from ..inference.dof import TITLES
from ..text import LINE, fixed, fmt, general

_INTERCEPT = "(Intercept)"  # lme4's name; Stata's layout says _cons


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
    loglik = f"Log {'restricted-' if res.reml else ''}{kind} = {general(res.loglik, 10)}"
    prob = "." if not np.isfinite(wald["p"]) else f"{wald['p']:.4f}"
    if res.survey:  # the adjusted Wald F on the design df
        f_name = f"F({wald['df1']}, {wald['df2']:g})" if wald["df"] else "F(0, .)"
        out.append(_pair("", (f_name, _statistic(wald.get("F", np.nan)))))
        out.append(_pair(loglik, ("Prob > F", prob)))
        return out
    if res.df is not None:  # Stata's dfmethod() header: DF summary and the F test
        return out[:-1] + _df_lines(res, wald, loglik, prob)
    out.append(_pair("", (f"Wald chi2({wald['df']})", _statistic(wald["chi2"]))))
    out.append(_pair(loglik, ("Prob > chi2", prob)))
    return out


def _df_lines(res, wald, loglik: str, prob: str) -> list[str]:
    df = res.df.to_numpy()
    f_name = f"F({wald['df1']}, {wald['df2']:.2f})" if wald["df1"] else "F(0, .)"
    first = f"{'DF method: ' + TITLES[res.dfmethod]:<48}DF:"
    first += _pair("", ("min", f"{df.min():.2f}"))[51:]
    return [first, _pair("", ("avg", f"{df.mean():.2f}")),
            _pair("", ("max", f"{df.max():.2f}")), "",
            _pair("", (f_name, _statistic(wald["F"]))), _pair(loglik, ("Prob > F", prob))]


def _statistic(value) -> str:
    """A header's test statistic as Stata prints it: %10.2f (``Wald chi2(1) = 45.05``),
    %10.0g when that does not fit."""
    text = fixed(value, 2)
    return text if len(text) <= 10 else general(value, 10)


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


def _shown_bases(res) -> tuple[bool, bool]:
    """Which base levels the table shows: (of factors, of interactions).

    Stata hides them all by default; ``baselevels`` shows the factors' (and the
    interactions' whose bases their factors do not tell), ``allbaselevels`` all.
    """
    options = res.options
    every = bool(options.get("allbaselevels"))
    return every or bool(options.get("baselevels")), every


def _table_columns(res) -> list:
    """The design's columns in Stata's order: lme4's ``(Intercept)`` last, as ``_cons``."""
    columns = list(res.design.columns)
    first = [c for c in columns if c.name == _INTERCEPT]
    return [c for c in columns if c.name != _INTERCEPT] + first


def stata_label(name: str) -> str:
    """A coefficient or variance label in Stata's words (``(Intercept)`` -> ``_cons``)."""
    return name.replace(_INTERCEPT, "_cons")


def _coef_table(res) -> list[str]:
    level = int(res.level) if float(res.level).is_integer() else res.level
    stat = "t" if res.df is not None else "z"
    coef = res.eform or "Coefficient"
    fixed_at = "1" if res.eform else "0"  # a base or omitted coefficient, exponentiated
    vce = VCE_TITLES.get(res.vce)
    out = ["-" * LINE] + ([f"{'':13}|{vce:>25}"] if vce else []) + [
           f"{res.response_label[:12]:>12} | {coef:>11}  Std. err.      {stat}    P>|{stat}|     "
           f"[{level}% conf. interval]",
           "-" * 13 + "+" + "-" * (LINE - 14)]
    table = res.coef_table
    bases = {c.term: c for c in res.design.base_columns}
    factor_bases, interaction_bases = _shown_bases(res)
    shown_headers: set[str] = set()
    for col in _table_columns(res):
        row = table.loc[col.name]
        if col.term is not None:
            if col.term not in shown_headers:
                shown_headers.add(col.term)
                out.append(f"{col.term[:12]:>12} |")
                base = bases.get(col.term)
                shown = interaction_bases if "#" in col.term else factor_bases
                if base is not None and shown:
                    out.append(f"{base.level[:12]:>12} |{fixed_at:>11}  (base)")
            label = col.level
        else:
            label = stata_label(col.name)
        out.append(_coef_line(label, row, coef, stat))
    if not res.options.get("noomitted"):
        for name in res.omitted:
            out.append(f"{stata_label(name)[:12]:>12} |{fixed_at:>11}  (omitted)")
    aux = res.aux
    if not aux.empty:  # /cut1 ..., /lnalpha; then p, 1/p, sigma
        derived = aux["z"].isna().to_numpy()
        for block in (aux[~derived], aux[derived]):
            if block.empty:
                continue
            out.append("-" * 13 + "+" + "-" * (LINE - 14))
            for name, row in block.iterrows():
                out.append(_coef_line(name, row, "Coefficient", "z", show_test=False))
    if _one_table(res):
        out += _re_rows(res)
    out.append("-" * LINE)
    return out


def _one_table(res) -> bool:
    """Stata's me* commands show the random effects inside the coefficient table;
    ``mixed`` (and its weighted fits on the Gaussian engine) in a table of their own."""
    return res.shows_integration


def _re_values(res, r) -> tuple[str, tuple]:
    label = stata_label(r["label"])
    if res.options.get("stddeviations"):
        label = label.replace("var(", "sd(", 1).replace("cov(", "corr(", 1)
        return label, (r["sd_or_corr"], r["sd_or_corr_se"], r["sd_or_corr_lower"],
                       r["sd_or_corr_upper"])
    return label, (r["estimate"], r["std_err"], r["ci_lower"], r["ci_upper"])


def _distinct_values(res, rows):
    """(label, values) of each of a group's variance-component rows, a repeated label once."""
    seen = set()
    for _, r in rows.iterrows():
        if r["label"] not in seen:
            seen.add(r["label"])
            yield _re_values(res, r)


def _re_rows(res) -> list[str]:
    """The random-effects block of an me* table: the level, then ``   var(_cons)|``."""
    out = []
    vc = res.varcomp
    for group, rows in vc.groupby("group", sort=False):
        out.append("-" * 13 + "+" + "-" * (LINE - 14))
        if group != "Residual":  # var(e.y) stands alone, under a rule
            out.append(f"{str(group)[:12]:<12} |")
        for label, vals in _distinct_values(res, rows):
            out.append(f"{label[-13:]:>13}| {fmt(vals[0])} {fmt(vals[1])} {' ' * 19}"
                       f"{fmt(vals[2], 11)} {fmt(vals[3], 11)}")
    return out


# what an exponentiated constant estimates (Stata's note under or, irr and hr)
BASELINES = {"or": "odds", "irr": "incidence rate", "hr": "hazard"}
EFORM_WORDS = {"or": "odds ratios", "irr": "incidence-rate ratios", "hr": "hazard ratios",
               "tr": "time ratios", "eform": "exponentiated coefficients"}


def _eform_notes(res) -> list[str]:
    """Stata's notes under an exponentiated table: what was transformed, what _cons is."""
    kind = res.options.get("eform") if res.eform else None
    if kind is None:
        return []
    out = [f"Note: Estimates are transformed only in the first equation to {EFORM_WORDS[kind]}."]
    has_constant = any(c.name in ("_cons", _INTERCEPT) for c in res.design.columns)
    if kind in BASELINES and has_constant:
        out.append(f"Note: _cons estimates baseline {BASELINES[kind]} (conditional on zero "
                   "random effects).")
    return out


def _coef_line(label: str, row, coef: str, stat: str, show_test: bool = True) -> str:
    test = f"{row[stat]:8.2f}   {row[f'P>|{stat}|']:5.3f}  " if show_test else " " * 19
    return (f"{label[:12]:>12} | {fmt(row[coef])} {fmt(row['Std. err.'])} {test}"
            f"{fmt(row['ci_lower'], 11)} {fmt(row['ci_upper'], 11)}")


def _re_table(res) -> list[str]:
    level = int(res.level) if float(res.level).is_integer() else res.level
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
        for label, vals in _distinct_values(res, rows):
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


def render_iteration_log(res) -> str:
    """Stata's iteration log: one line per accepted iteration of the optimiser."""
    kind = "Log restricted-likelihood" if res.reml else "Log likelihood"
    heading = "Fitting full model:" if res.shows_integration else \
        "Performing gradient-based optimization:"
    lines = [heading, ""] + [f"{f'Iteration {i}:':<13} {kind} = {general(value, 10)}"
                             for i, value in enumerate(res.iterations)]
    if not res.shows_integration:
        lines += ["", "Computing standard errors ..."]
    return "\n".join(lines)


def _shows_log(res) -> bool:
    """Stata command lines print the log (as Stata) unless ``nolog``; formula fits don't."""
    options = res.options
    stata_style = res.design.style == "stata"
    return bool(res.iterations) and not options.get("nolog") and (
        bool(options.get("log")) or stata_style)


def render_summary(res, log: bool | None = None) -> str:
    lr = _lr_line(res) if res.lr_test is not None else []
    show_log = _shows_log(res) if log is None else log and bool(res.iterations)
    lines = [render_iteration_log(res), ""] if show_log else []
    if _one_table(res):  # me*: no blank line above the table, no second table
        lines += _header(res) + _coef_table(res) + _eform_notes(res) + lr
    else:
        lines += _header(res) + [""] + _coef_table(res) + _re_table(res) + _eform_notes(res) + lr
    for note in res.notes:
        lines.append(f"Note: {note}.")
    return "\n".join(lines)
