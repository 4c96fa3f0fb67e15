"""Wald tests and likelihood-ratio tests after ``mixed``, with Stata's syntax and output.

``test``, ``lincom``, ``contrast``, ``pwcompare``, ``lrtest`` and ``estat ic``.
When the result carries small-sample degrees of freedom (``result.df`` set by
``dfmethod()``) the Wald tests report F and t; otherwise chi2 and z, as Stata.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import special

from ..spec.design import level_label
from ..text import fmt
from ._common import (
    HypothesisError,
    PostResult,
    _Linear,
    constraint_text,
    critical,
    level_text,
    names_matrix,
    parse_linear,
    protect_names,
    residual_df,
    restore_names,
    row_df,
    rule,
    small_sample_f,
    split_top_level,
    two_sided_p,
)
from .counterfactual import balanced_grid, check_variable, design_matrix, factor_levels
from .counterfactual import is_factor as _is_factor_var
from .fitted import FittedModel

__all__ = ["test", "lincom", "contrast", "pwcompare", "lrtest", "estat_ic", "wald"]


# ---- Wald test of R b = r -----------------------------------------------------------------
def wald(result, R: np.ndarray, r: np.ndarray | None = None) -> dict:
    """Wald chi2 (or F with ``result.df``) of ``R b = r``; dependent rows are dropped.

    Returns chi2, df, p and, with small-sample df, F, df_r and p from F.
    """
    R = np.atleast_2d(np.asarray(R, dtype=float))
    r = np.zeros(len(R)) if r is None else np.asarray(r, dtype=float)
    b = result.fixef.to_numpy()
    V = result.vcov.to_numpy()
    keep = _independent_rows(R)
    dropped = [i for i in range(len(R)) if i not in keep]
    for i in dropped:
        coef, *_ = np.linalg.lstsq(R[keep].T, R[i], rcond=None)
        if abs(coef @ r[keep] - r[i]) > 1e-8 * (1 + abs(r[i])):
            raise HypothesisError(f"constraint ({i + 1}) contradicts the others")
    R, r = R[keep], r[keep]
    q = len(R)
    if q == 0:
        raise HypothesisError("no constraints left to test (all were dropped)")
    diff = R @ b - r
    chi2 = float(diff @ np.linalg.solve(R @ V @ R.T, diff))
    out = {"chi2": chi2, "df": q, "p": float(special.chdtrc(q, chi2)), "dropped": dropped}
    small = small_sample_f(result, R, r)
    if small is not None:
        out.update({"F": small["F"], "df_r": small["df_r"], "p": small["p"]})
        return out
    df_r = residual_df(result, R)
    if df_r is not None:
        F = chi2 / q
        out.update({"F": F, "df_r": df_r, "p": float(special.fdtrc(q, df_r, F))})
    return out


def _independent_rows(R: np.ndarray) -> list[int]:
    keep: list[int] = []
    for i in range(len(R)):
        if not np.any(R[i]):
            continue
        trial = R[keep + [i]]
        if np.linalg.matrix_rank(trial, tol=1e-10 * max(1.0, np.abs(trial).max())) > len(keep):
            keep.append(i)
    return keep


def _parse_constraints(result, text: str) -> list[tuple[_Linear, str]]:
    """Stata's test syntax -> list of (lhs - rhs as a linear form, display text)."""
    text = protect_names(result, text).strip()
    if not text:
        raise HypothesisError("test needs a hypothesis, e.g. 'test x1=1' or 'test x1 x2'")
    pieces: list[str]
    if text.startswith("("):
        pieces, depth, current = [], 0, ""
        for ch in text:
            if ch == "(":
                depth += 1
                if depth == 1:
                    current = ""
                    continue
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    pieces.append(current)
                    continue
            if depth == 0:
                if not ch.isspace():
                    raise HypothesisError(f"cannot parse {text!r}: expected (exp=exp) (exp=exp)")
                continue
            current += ch
        if depth != 0:
            raise HypothesisError(f"unbalanced parentheses in {text!r}")
    elif "=" in text or re.search(r"[-+*/]", text):
        pieces = [text]
    else:
        pieces = text.split()
    out = []
    for piece in pieces:
        sides = split_top_level(piece, "=")
        if len(sides) > 2:
            raise HypothesisError(f"{piece.strip()!r} has more than one '='")
        form = parse_linear(result, sides[0])
        if len(sides) == 2:
            form = form.add(parse_linear(result, sides[1]), -1.0)
        out.append((form, restore_names(result, piece)))
    return out


def test(result, hypothesis: str) -> PostResult:
    """Stata's ``test``: ``"x1=1"``, ``"x1 x2"``, ``"(x1=x2) (x2=0)"``, ``"2.a 3.a"``."""
    forms = _parse_constraints(result, hypothesis)
    shown, rows, rhs, notes = [], [], [], []
    for i, (form, _) in enumerate(forms):
        coef = {k: v for k, v in form.coef.items() if v != 0}
        if not coef:
            notes.append(f"Constraint {i + 1} dropped")
            if form.const != 0:
                raise HypothesisError(f"constraint {i + 1} involves only base levels "
                                      f"(fixed at 0) and cannot hold")
            continue
        rows.append(coef)
        rhs.append(0.0 - form.const)
        shown.append(constraint_text(result.response_label, coef, 0.0 - form.const,
                                     result.design.style == "stata"))
    R = names_matrix(result, rows)
    res = wald(result, R, np.array(rhs))
    notes += [f"Constraint {i + 1} dropped" for i in res["dropped"]]
    values = {**res, "constraints": shown, "R": R, "r": np.array(rhs)}
    lines = [""] + [f" ({i + 1:>2})  {c}" for i, c in enumerate(shown)]
    if notes:
        lines += [""] + [f"       {n}" for n in notes]
    lines.append("")
    if "F" in res:
        lines += [f"{'F(' + format(res['df'], '3d') + ',' + format(res['df_r'], '8.2f') + ')':>20}"
                  f" = {res['F']:8.2f}", f"{'Prob > F':>20} = {res['p']:9.4f}"]
    else:
        lines += [f"{'chi2(' + format(res['df'], '3d') + ')':>20} = {res['chi2']:8.2f}",
                  f"{'Prob > chi2':>20} = {res['p']:9.4f}"]
    return PostResult(values, "\n".join(lines))


# ---- lincom -------------------------------------------------------------------------------
def _estimate_table(result, stub: str, labels: list[str], est, se, df, level,
                    header: str = "Coefficient", groups: list[str | None] | None = None,
                    title_row: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Rows of estimate, SE, z/t, p and CI, and the Stata table lines."""
    est, se = np.asarray(est, dtype=float), np.asarray(se, dtype=float)
    stat = est / se
    p = two_sided_p(stat, df)
    crit = critical(level, df)
    lo, hi = est - crit * se, est + crit * se
    zname = "z" if df is None else "t"
    if df is not None and np.ndim(df) == 0:
        df = float(df)
    frame = pd.DataFrame({"estimate": est, "std_err": se, zname: stat, "p": p,
                          "ci_lower": lo, "ci_upper": hi}, index=labels)

    lines = [rule()]
    lines += title_row or []
    lines.append(f"{stub[-12:]:>12} | {header:>10}  Std. err.      {zname}    P>|{zname}|     "
                 f"[{level_text(level)}% conf. interval]")
    lines.append("-" * 13 + "+" + "-" * 64)
    current = None
    for i, label in enumerate(labels):
        group = groups[i] if groups else None
        if group is not None and group != current:
            lines.append(f"{group[-12:]:>12} |")
            current = group
        lines.append(f"{label[-12:]:>12} | {fmt(est[i])} {fmt(se[i])} {stat[i]:8.2f}   "
                     f"{p[i]:5.3f}  {fmt(lo[i], 11)} {fmt(hi[i], 11)}")
    lines.append(rule())
    return frame, lines


def lincom(result, expression: str, level: float | None = None) -> PostResult:
    """Stata's ``lincom``: estimate, SE, z (t), p and CI of a linear combination."""
    level = result.level if level is None else float(level)
    form = parse_linear(result, expression)
    coef = {k: v for k, v in form.coef.items() if v != 0}
    w = names_matrix(result, [coef])[0]
    est = float(w @ result.fixef.to_numpy() + form.const)
    se = float(np.sqrt(w @ result.vcov.to_numpy() @ w))
    df = row_df(result, w)
    df = None if df is None else float(np.min(df))
    shown = constraint_text(result.response_label, coef, 0.0 - form.const,
                            result.design.style == "stata")
    frame, lines = _estimate_table(result, result.response_label, ["(1)"], [est], [se], df,
                                   level)
    row = frame.iloc[0]
    values = {"estimate": est, "std_err": se, "stat": float(row.iloc[2]), "p": float(row["p"]),
              "ci_lower": float(row["ci_lower"]), "ci_upper": float(row["ci_upper"]),
              "df": df, "level": level, "constraint": shown}
    text = "\n".join(["", f" ( 1)  {shown}", ""] + lines)
    return PostResult(values, text)


# ---- contrast and pwcompare ------------------------------------------------------------------
def _term_variables(result, term: str) -> list[str]:
    names = [v.strip() for v in re.split(r"#", re.sub(r"^(i|r)\.", "", term.strip()))]
    names = [re.sub(r"^(i|ib\w*|ibn|c)\.", "", n) for n in names]
    for n in names:
        check_variable(result, n)
    return names


def level_rows(result, var: str, fixed: dict | None = None) -> tuple[list, np.ndarray]:
    """Asbalanced margins' weight rows L_k (one per level of factor ``var``)."""
    if not _is_factor_var(result, var):
        raise HypothesisError(f"{var!r} is not a factor variable in the model (use i.{var})")
    levels = factor_levels(result)[var]
    rows = []
    for lv in levels:
        grid = balanced_grid(result, {**(fixed or {}), var: lv})
        rows.append(design_matrix(result, None, grid).mean(axis=0))
    return levels, np.array(rows)


def contrast(result, term: str) -> PostResult:
    """Stata's ``contrast a`` (or ``a#b``): joint Wald test that the term's effects are zero.

    Main effects compare asbalanced level margins (Stata's default); an
    interaction ``a#b`` tests all interaction contrasts of the cell margins.
    """
    spec = term.strip()
    if not spec:
        raise HypothesisError("contrast needs a factor term, e.g. 'contrast a'")
    rows_out, lines_rows = [], []
    for one in spec.split():
        names = _term_variables(result, one)
        for n in names:
            if not _is_factor_var(result, n):
                raise HypothesisError(f"{n!r} is not a factor variable in the model; contrast "
                                      "needs factor terms such as a or a#b")
        if len(names) == 1:
            levels, L = level_rows(result, names[0])
            R = L[1:] - L[0]
        elif len(names) == 2:
            la, lb = factor_levels(result)[names[0]], factor_levels(result)[names[1]]
            R = []
            cell = {}
            for a in la:
                for b in lb:
                    grid = balanced_grid(result, {names[0]: a, names[1]: b})
                    cell[(level_label(a), level_label(b))] = design_matrix(
                        result, None, grid).mean(axis=0)
            a0, b0 = level_label(la[0]), level_label(lb[0])
            for a in la[1:]:
                for b in lb[1:]:
                    a1, b1 = level_label(a), level_label(b)
                    R.append(cell[(a1, b1)] - cell[(a1, b0)] - cell[(a0, b1)] + cell[(a0, b0)])
            R = np.array(R)
        else:
            raise HypothesisError("contrast supports main effects and two-way interactions")
        res = wald(result, R)
        label = "#".join(names)
        rows_out.append({"term": label, **{k: v for k, v in res.items() if k != "dropped"}})
        lines_rows.append((label, res))
    table = pd.DataFrame(rows_out).set_index("term")
    small = "F" in table.columns
    width = 60 if small else 48
    lines = ["", "Contrasts of marginal linear predictions", "", "Margins: asbalanced", "",
             rule(width)]
    if small:
        lines.append(f"{'':12} |         df        ddf           F        P>F")
    else:
        lines.append(f"{'':12} |         df        chi2     P>chi2")
    lines.append("-" * 13 + "+" + "-" * (width - 14))
    for label, res in lines_rows:
        if small:
            lines.append(f"{label[-12:]:>12} | {res['df']:>10} {res['df_r']:>10.2f} "
                         f"{res['F']:>11.2f} {res['p']:>10.4f}")
        else:
            lines.append(f"{label[-12:]:>12} | {res['df']:>10} {res['chi2']:>11.2f} "
                         f"{res['p']:>10.4f}")
    lines.append(rule(width))
    values = {"table": table}
    if len(rows_out) == 1:
        values.update({k: v for k, v in rows_out[0].items() if k != "term"})
    return PostResult(values, "\n".join(lines))


def pwcompare(result, term: str, level: float | None = None) -> PostResult:
    """Stata's ``pwcompare a``: all pairwise differences of the asbalanced level margins.

    Unadjusted (Stata's default ``mcompare(noadjust)``); each row ``j vs i``
    is margin(j) - margin(i), with SE, z (t), p and CI.
    """
    level = result.level if level is None else float(level)
    names = _term_variables(result, term)
    if len(names) != 1:
        raise HypothesisError("pwcompare supports one factor variable, e.g. 'pwcompare a'")
    var = names[0]
    levels, L = level_rows(result, var)
    labels, W = [], []
    for i in range(len(levels)):
        for j in range(i + 1, len(levels)):
            labels.append(f"{level_label(levels[j])} vs {level_label(levels[i])}")
            W.append(L[j] - L[i])
    W = np.array(W)
    est = W @ result.fixef.to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", W, result.vcov.to_numpy(), W))
    df = row_df(result, W)
    title = [f"{'':12} |{'Unadjusted':>46}"]
    frame, lines = _estimate_table(result, "", labels, est, se, df, level, header="Contrast",
                                   groups=[var] * len(labels), title_row=title)
    out = ["", "Pairwise comparisons of marginal linear predictions", "",
           "Margins: asbalanced", ""] + lines
    return PostResult({"table": frame, "df": df, "level": level}, "\n".join(out))


# ---- likelihood-ratio test ---------------------------------------------------------------------
def _n_var_params(res) -> int:
    return res.n_params - len(res.fixef)


def _re_nested(small, big) -> bool:
    big_terms = {t.label: set(t.effect_names) for t in big.design.re_terms}
    for t in small.design.re_terms:
        if t.label not in big_terms or not set(t.effect_names) <= big_terms[t.label]:
            return False
    if small.design.residual is not None and big.design.residual is None:
        return False
    return True


def lrtest(model1, model2, names: tuple[str, str] = ("A", "B")) -> PostResult:
    """Likelihood-ratio test of two nested fits: chi2 = 2 (ll_big - ll_small).

    Both fits must use the same estimator and sample; under REML the fixed
    effects must be identical (REML likelihoods of different X are not
    comparable). df is the difference in parameter counts. As Stata, a note
    says the test is conservative when variance parameters are tested.
    """
    for m in (model1, model2):
        if not isinstance(m, FittedModel):
            raise HypothesisError(f"lrtest needs two mixed results, got {type(m).__name__}")
        if m.pseudo:
            raise HypothesisError(
                f"lrtest is not appropriate with {'survey' if m.survey else 'weighted or robust'}"
                " estimation results: a pseudo-likelihood ratio has no chi2 distribution; use "
                "test (Wald) instead")
    if model1.reml != model2.reml:
        raise HypothesisError("lrtest: models were estimated differently (one by ML, one by "
                              "REML); refit both with the same method")
    if model1.nobs != model2.nobs or model1.design.response != model2.design.response or \
            not np.allclose(model1.design.y, model2.design.y):
        raise HypothesisError("lrtest: observations differ between the two models (different "
                              "response, sample or number of observations)")
    if model1.reml and list(model1.fixef.index) != list(model2.fixef.index):
        raise HypothesisError("lrtest: REML fits with different fixed effects are not "
                              "comparable; refit with ML to test fixed effects")
    k1, k2 = model1.n_params, model2.n_params
    if k1 == k2:
        raise HypothesisError("lrtest: the models have the same number of parameters; "
                              "they are not nested")
    (big, big_name), (small, small_name) = (
        ((model1, names[0]), (model2, names[1])) if k1 > k2 else
        ((model2, names[1]), (model1, names[0])))
    if not set(small.fixef.index) <= set(big.fixef.index) or not _re_nested(small, big):
        raise HypothesisError(f"lrtest: model {small_name} is not nested within model "
                              f"{big_name} (its fixed or random terms are not a subset)")
    df = abs(k1 - k2)
    chi2 = max(2.0 * (big.loglik - small.loglik), 0.0)
    p = float(special.chdtrc(df, chi2))
    boundary = _n_var_params(big) != _n_var_params(small)
    lines = ["", "Likelihood-ratio test",
             f"Assumption: {small_name} nested within {big_name}", "",
             f" LR chi2({df}) = {chi2:>8.2f}", f"Prob > chi2 = {p:>8.4f}"]
    if boundary:
        lines += ["", "Note: The reported degrees of freedom assumes the null hypothesis is not "
                  "on", "      the boundary of the parameter space.  If this is not true, then "
                  "the", "      reported test is conservative."]
    values = {"chi2": chi2, "df": df, "p": p, "ll_big": big.loglik, "ll_small": small.loglik,
              "nested": small_name, "within": big_name, "conservative": boundary}
    return PostResult(values, "\n".join(lines))


# ---- estat ic -------------------------------------------------------------------------------
def estat_ic(results, names: list[str] | None = None) -> PostResult:
    """Stata's ``estat ic``: N, ll(null), ll(model), df, AIC and BIC (N = observations)."""
    if not isinstance(results, (list, tuple)):
        results = [results]
    names = names or ["."] * len(results)

    rows = []
    for name, res in zip(names, results):
        rows.append({"Model": name, "N": res.nobs, "ll(null)": np.nan, "ll(model)": res.loglik,
                     "df": res.n_params, "AIC": res.aic, "BIC": res.bic})
    table = pd.DataFrame(rows).set_index("Model")
    lines = ["", "Akaike's information criterion and Bayesian information criterion", "",
             rule(77),
             f"{'Model':>12} |          N   ll(null)  ll(model)      df        AIC        BIC",
             "-" * 13 + "+" + "-" * 63]
    for name, r in table.iterrows():
        lines.append(f"{str(name)[-12:]:>12} | {r['N']:>10,.0f} {fmt(r['ll(null)'])} "
                     f"{fmt(r['ll(model)'])} {r['df']:>7.0f} {fmt(r['AIC'])} {fmt(r['BIC'])}")
    lines += [rule(77), "Note: BIC uses N = number of observations. See [R] IC note."]
    values = {"table": table}
    if len(rows) == 1:
        values.update({k: v for k, v in rows[0].items() if k != "Model"})
    return PostResult(values, "\n".join(lines))
