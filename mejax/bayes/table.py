"""Stata's output of a Bayesian multilevel fit: header, parameter table, notes (host side)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text import LINE, fmt


def _num(x, width=10) -> str:
    return f"{x:,.0f}".rjust(width) if float(x).is_integer() else fmt(x, width)


def _pair(left: str, label: str, value: str) -> str:
    if not value.strip():
        return f"{left:<45}{label}".rstrip()
    return f"{left:<45}{label:<21}= {value}"


def _header(res) -> list[str]:
    s, design = res.settings, res.design
    eff = res.efficiency()
    terms = _groups(res)
    rows = [
        (res.model.title, "MCMC iterations", _num(s.chains * (s.warmup + s.draws * s.thinning))),
        ("No-U-Turn sampling (NUTS)", "Burn-in", _num(s.chains * s.warmup)),
        ("", "MCMC sample size", _num(res.n_draws_total)),
    ]
    if len(terms) == 1:
        counts = terms[0].counts
        rows += [(f"Group variable: {terms[0].label}", "Number of groups", _num(terms[0].n_levels)),
                 ("", "Obs per group:", ""),
                 ("", "                 min", _num(counts.min())),
                 ("", "                 avg", fmt(float(counts.mean()), 10)),
                 ("", "                 max", _num(counts.max()))]
    rows += [("", "Number of obs", _num(design.nobs))]
    if res.model.family is not None:  # survival's failures and time at risk, censoring counts
        rows += design.glm.family.header_rows(design.glm.data)
    if s.chains > 1:
        rows += [("", "Number of chains", _num(s.chains))]
    rows += [("", "Avg acceptance rate" if s.chains > 1 else "Acceptance rate",
              fmt(res.acceptance_rate, 10)),
             ("", "Avg efficiency: min" if s.chains > 1 else "Efficiency:  min",
              fmt(float(eff.min()), 10)),
             ("", "                 avg", fmt(float(eff.mean()), 10)),
             ("", "                 max", fmt(float(eff.max()), 10))]
    if s.chains > 1:
        rows += [("", "Max Gelman-Rubin Rc", fmt(res.max_rhat, 10))]
    lines = [_pair(left, label, value.strip().rjust(10) if value.strip() else "")
             if label else left
             for left, label, value in rows]
    if len(terms) > 1:
        lines += ["", f"{'Group variable':<18}{'groups':>10}{'min':>10}{'avg':>10}{'max':>10}"]
        for t in terms:
            lines.append(f"{t.label:<18}{t.n_levels:>10}{t.counts.min():>10}"
                         f"{t.counts.mean():>10.1f}{t.counts.max():>10}")
    return lines


@dataclass(frozen=True)
class _Group:
    """A random-effects term's grouping as the header shows it."""

    label: str
    n_levels: int
    counts: np.ndarray  # observations per group


def _groups(res) -> list[_Group]:
    """Every term's grouping, from the layout and the rows' group codes."""
    return [_Group(term.group, term.n_levels, np.bincount(np.asarray(codes),
                                                          minlength=term.n_levels))
            for term, codes in zip(res.model.layout.terms, res.arrays["codes"])]


def _sections(res) -> list[tuple[str, list[tuple[str, int]]]]:
    """(equation header, [(row label, parameter index)]) in table order."""
    layout, names = res.model.layout, res.names
    sections = [(layout.response, [(n.rpartition(":")[2], names.index(n))
                                   for n in layout.coef_names])]
    for term in layout.terms:
        sections.append((term.group, [(n, names.index(n)) for n in term.reported_names()]))
    if layout.sigma2_name:  # {e.y:sigma2} under e.y; bayes: menl's {sigma2} on its own
        header, _, label = layout.sigma2_name.rpartition(":")
        sections.append((header, [(label, names.index(layout.sigma2_name))]))
    if layout.aux_names:
        sections.append(("", [(n, names.index(n)) for n in layout.aux_names]))
    return sections


def _table(res) -> list[str]:
    t = res.table
    dash = "-" * LINE
    level = f"{res.level:g}"
    lines = [dash,
             f"{'':<13}|{'':<48}Equal-tailed",
             f"{'':<13}|{'Mean':>10}{'Std. dev.':>12}{'MCSE':>10}{'Median':>11}  "
             f"[{level}% cred. interval]",
             "-" * 13 + "+" + "-" * (LINE - 14)]
    for k, (header, rows) in enumerate(_sections(res)):
        if k:
            lines.append("-" * 13 + "+" + "-" * (LINE - 14))
        if header:
            lines.append(f"{header[:12]:<13}|")
        for label, i in rows:
            r = t.iloc[i]
            lines.append(f"{label[-12:]:>12} |{fmt(r['mean'])}{fmt(r['sd'], 12)}"
                         f"{fmt(r['mcse'])}{fmt(r['median'], 11)}{fmt(r['lower'], 12)}"
                         f"{fmt(r['upper'], 12)}")
    lines.append(dash)
    return lines


def _priors(res) -> list[str]:
    layout = res.model.layout
    lines = ["Model summary", "-" * LINE, "Priors:"]
    for name, prior in layout.priors:
        ref = "{" + name + (",m}" if name.startswith("Sigma_") else "}")
        lines.append(f"  {ref:>28} ~ {prior.text()}")
    lines.append("-" * LINE)
    return lines


def render(res) -> str:
    # survival's stset settings (failure _d, analysis time _t) first, as mestreg prints them
    glm = res.design.glm if res.model.family is not None else None  # menl's design has none
    preamble = glm.family.preamble() if glm is not None else []
    lines = ([*preamble, ""] if preamble else []) + _priors(res) + [""] + _header(res) + [""]
    lines += _table(res)
    notes = list(glm.notes) if glm is not None else []
    lines += [f"Note: {n}" for n in notes + res.notes]
    if not np.isfinite(res.max_rhat):
        lines.append("Note: R-hat needs two or more chains.")
    return "\n".join(lines)


def render_columns(res, frame, title: str, names: list[str] | None = None) -> str:
    """A Stata table of ``frame``'s columns for every (or the named) parameter, by equation."""
    dash = "-" * (14 + 13 * len(frame.columns))
    lines = [title, "", dash, f"{'':<13}|" + "".join(f"{c:>13}" for c in frame.columns),
             "-" * 13 + "+" + "-" * (len(dash) - 14)]
    wanted = None if names is None else set(names)
    for header, rows in _sections(res):
        rows = [(label, i) for label, i in rows
                if wanted is None or res.names[i] in wanted]
        if not rows:
            continue
        if header:
            lines.append(f"{header[:12]:<13}|")
        for label, i in rows:
            values = frame.iloc[i]
            lines.append(f"{label[-12:]:>12} |" + "".join(fmt(float(v), 13) for v in values))
    lines.append(dash)
    return "\n".join(lines)
