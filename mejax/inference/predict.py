"""BLUPs of the random effects with standard errors, and predictions after ``mixed``.

The conditional modes û = E[u | y] of the spherical effects (b = Λu) solve the
penalized system M û = Λ'Z'R̃⁻¹(y − Xβ̂), M = Λ'Z'R̃⁻¹ZΛ + I (lme4's notation;
R̃ is the fitted relative residual covariance, identity without residuals()).
M is factored through its block structure: the first term in block order (the
one with most levels) gives a block-diagonal corner A, the other terms and X a
small dense Schur complement. Only the diagonal blocks of the inverse are
formed, so no n×n matrix and no dense q×q inverse exists: InstEval-sized
models take seconds.

Two variances of the BLUPs are available:

- ``"conditional"``: Var(b | y) = σ²Λ M⁻¹ Λ' with β known, lme4's
  ``ranef(condVar = TRUE)``;
- ``"comparative"``: Var(b̂ − b) = σ²Λ C_uu Λ', C the inverse of Henderson's
  system in (u, β), which adds the uncertainty of β̂.

Stata's ``predict, reses`` uses the comparative variance after REML and the
conditional one after ML (its manual: REML standard errors account for the
estimation of β, ML ones treat β as known); ``"stata"`` picks that rule.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy  # scipy.linalg and scipy.sparse load on first use (scipy's lazy submodules)

from ..linalg.residual_blocks import covariance_index_arrays, group_rows
from ..models.lmm import lambdas_from_theta, residual_eta
from ..spec.design import (
    CodedPart,
    ColumnFrame,
    Design,
    build_linear,
    factor_levels,
    is_factor,
    is_numeric_series,
    linear_vars,
)
from ..spec.model import DataError, LinearPart, SpecError
from .fitted import require_estimates

KINDS = ("xb", "fitted", "residuals", "rstandard", "reffects", "stdp")
SE_TYPES = ("stata", "conditional", "comparative")
_CHUNK = 2**22  # entries of the dense T = L⁻¹W' formed at a time


@dataclass
class TermBlups:
    """BLUPs of one term, levels in code order, and their variances (or None)."""

    index: int  # position in design.re_terms
    b: np.ndarray  # (n_levels, k)
    var_conditional: np.ndarray  # (n_levels, k, k)
    var_comparative: np.ndarray  # (n_levels, k, k)


# ---- the penalized system ------------------------------------------------------------
def _lambdas(result) -> list[np.ndarray]:
    fit = result._fit
    lams = lambdas_from_theta(jnp.asarray(fit["theta"]), fit["model"])
    return [np.asarray(lam, dtype=float) for lam in lams]


def _whitener(result):
    """x ↦ R̃^{-1/2}x within residual groups (Cholesky, time order), or None without residuals()."""
    design, fit = result.design, result._fit
    res = design.residual
    if res is None:
        return None
    model = fit["model"]
    index, mask = group_rows(res)
    # the full R̃_i, also for AR(1)/exponential, whose fit stores only the gaps
    arrays = {**fit["arrays"], **covariance_index_arrays(res, index, mask)}
    theta = np.asarray(fit["theta"])
    eta = residual_eta(theta, model)
    cov = np.asarray(model.residual.relative_cov(jnp.asarray(eta), arrays), dtype=float)
    low = np.linalg.cholesky(cov)
    where = mask > 0
    rows = index[where]

    def whiten(values: np.ndarray) -> np.ndarray:
        flat = values.reshape(len(values), -1)
        padded = flat[index] * mask[:, :, None]
        white = np.linalg.solve(low, padded)
        out = np.empty_like(flat)
        out[rows] = white[where]
        return out.reshape(values.shape)

    return whiten


def _block_diagonal(mat: scipy.sparse.spmatrix, n: int, k: int) -> np.ndarray:
    """The (n, k, k) diagonal blocks of a block-diagonal sparse matrix."""
    coo = mat.tocoo()
    out = np.zeros((n, k, k))
    np.add.at(out, (coo.row // k, coo.row % k, coo.col % k), coo.data)
    return out


def _diag_blocks(mat: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """(n_levels, k, k) diagonal blocks of a dense matrix laid out term after term."""
    out, start = [], 0
    for n_levels, k in sizes:
        idx = start + np.arange(n_levels)[:, None] * k + np.arange(k)
        out.append(mat[idx[:, :, None], idx[:, None, :]])
        start += n_levels * k
    return out


def _first_blocks(a_inv: np.ndarray, w: scipy.sparse.spmatrix, chol, n1: int,
                  k1: int) -> np.ndarray:
    """Diagonal blocks of A⁻¹ + W S⁻¹ W' (the first term's part of the inverse)."""
    out = a_inv.copy()
    dim = w.shape[1]
    if dim == 0:
        return out
    wt = w.T.tocsc()
    step = max(k1, (_CHUNK // max(dim, 1)) // k1 * k1)
    for start in range(0, n1 * k1, step):
        stop = min(start + step, n1 * k1)
        t = scipy.linalg.solve_triangular(chol, wt[:, start:stop].toarray(), lower=True)
        t = t.reshape(dim, (stop - start) // k1, k1)
        out[start // k1 : stop // k1] += np.einsum("rgi,rgj->gij", t, t)
    return out


# BLUPs per fitted result (weakly keyed: they go with it)
_BLUP_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def blups(result) -> list[TermBlups]:
    """BLUPs and both kinds of variance for every random-effects term (computed once per fit)."""
    cached = _BLUP_CACHE.get(result)
    if cached is not None:
        return cached
    design, fit = result.design, result._fit
    order = list(fit["order"])
    if not order:
        _BLUP_CACHE[result] = []
        return []
    lams = _lambdas(result)[: len(order)]
    whiten = _whitener(result)
    n = design.nobs
    rows, cols, vals, sizes = [], [], [], []
    offset = 0
    for lam, ti in zip(lams, order):
        term = design.re_terms[ti]
        k = term.z.shape[1]
        zl = term.z @ lam
        if whiten is not None:
            zl = whiten(zl)
        rows.append(np.repeat(np.arange(n), k))
        cols.append((offset + term.codes[:, None] * k + np.arange(k)).ravel())
        vals.append(zl.ravel())
        sizes.append((term.n_levels, k))
        offset += term.n_levels * k
    q = offset
    zl = scipy.sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, q))
    x = design.x if whiten is None else whiten(design.x)
    y = design.y if whiten is None else whiten(design.y)
    resid = y - x @ np.asarray(fit["beta"])
    zt = zl.T.tocsr()
    m = (zt @ zl).tocsr() + scipy.sparse.identity(q, format="csr")
    cx = np.asarray(zt @ x)
    zr = np.asarray(zt @ resid).ravel()

    n1, k1 = sizes[0]
    q1 = n1 * k1
    a_inv = np.linalg.inv(_block_diagonal(m[:q1, :q1], n1, k1))
    a_inv_sp = scipy.sparse.bsr_matrix((a_inv, np.arange(n1), np.arange(n1 + 1)), shape=(q1, q1))
    q2 = q - q1
    # rest = (u of the other terms, β): Henderson's system in block form
    b_mat = scipy.sparse.hstack([m[:q1, q1:], scipy.sparse.csr_matrix(cx[:q1])]).tocsc()
    d_mat = np.block([[m[q1:, q1:].toarray(), cx[q1:]], [cx[q1:].T, x.T @ x]])
    w = (a_inv_sp @ b_mat).tocsc()
    s_full = d_mat - np.asarray((b_mat.T @ w).todense())
    w_u = w[:, :q2]
    s_u = s_full[:q2, :q2]

    # modes with β at its estimate: the u-only system
    a_r = a_inv_sp @ zr[:q1]
    if q2:
        chol_u = scipy.linalg.cholesky(s_u, lower=True)
        u2 = scipy.linalg.cho_solve((chol_u, True), zr[q1:] - w_u.T @ zr[:q1])
        u1 = a_r - w_u @ u2
        s_u_inv = scipy.linalg.cho_solve((chol_u, True), np.eye(q2))
    else:
        chol_u, u2, u1, s_u_inv = np.zeros((0, 0)), np.zeros(0), a_r, np.zeros((0, 0))
    u = np.concatenate([u1, u2])
    chol_f = scipy.linalg.cholesky(s_full, lower=True)
    s_f_inv = scipy.linalg.cho_solve((chol_f, True), np.eye(s_full.shape[0]))[:q2, :q2]

    cond = [_first_blocks(a_inv, w_u, chol_u, n1, k1)] + _diag_blocks(s_u_inv, sizes[1:])
    comp = [_first_blocks(a_inv, w, chol_f, n1, k1)] + _diag_blocks(s_f_inv, sizes[1:])
    s2 = float(fit["sigma2"])
    out, start = [], 0
    for lam, ti, (n_levels, k), c_cond, c_comp in zip(lams, order, sizes, cond, comp):
        u_t = u[start : start + n_levels * k].reshape(n_levels, k)
        start += n_levels * k
        out.append(TermBlups(
            ti, u_t @ lam.T,
            s2 * np.einsum("ij,gjk,lk->gil", lam, c_cond, lam),
            s2 * np.einsum("ij,gjk,lk->gil", lam, c_comp, lam),
        ))
    out.sort(key=lambda t: t.index)
    _BLUP_CACHE[result] = out
    return out


# ---- group levels ------------------------------------------------------------------------
def new_level_codes(design: Design, term, frame) -> np.ndarray:
    """Each row's group code in the estimation sample; −1 for a group not seen there."""
    levels = level_index(design, term)
    if len(term.group_vars) == 1:
        keys = pd.Index(pd.Series(frame[term.group_vars[0]]).to_numpy())
    else:
        keys = pd.MultiIndex.from_arrays(
            [pd.Series(frame[v]).to_numpy() for v in term.group_vars])
    return levels.get_indexer(keys) if len(keys) else np.zeros(0, dtype=int)


def level_index(design: Design, term) -> pd.Index:
    """The term's group levels in code order, with their original values."""
    frame = design.frame
    if frame is None:
        return pd.RangeIndex(term.n_levels, name=term.label)
    if len(term.group_vars) == 1:
        name = term.group_vars[0]
        _, uniques = pd.factorize(frame[name], sort=True)
        return pd.Index(uniques, name=name)
    table = pd.DataFrame({v: frame[v].to_numpy() for v in term.group_vars})
    return table.groupby(list(term.group_vars), sort=True, observed=True).size().index


def _check_se_type(result, se_type: str | None) -> str:
    se_type = se_type or ("stata" if result.design.style == "stata" else "conditional")
    if se_type not in SE_TYPES:
        raise SpecError(f"se_type must be one of {', '.join(SE_TYPES)}; got {se_type!r}")
    if se_type == "stata":
        return "comparative" if result.reml else "conditional"
    return se_type


def ranef(result, se: bool = True, se_type: str | None = None) -> dict[str, pd.DataFrame]:
    """BLUPs by group label: rows are levels, columns effects (and ``se_<effect>``).

    ``se_type``: "conditional" (lme4's condVar; the default for formula fits),
    "comparative" (adds β̂'s uncertainty) or "stata" (comparative after REML,
    conditional after ML; the default for Stata-command fits).
    """
    require_estimates(result, "ranef()")
    kind = _check_se_type(result, se_type)
    design = result.design
    out: dict[str, pd.DataFrame] = {}
    for tb in blups(result):
        term = design.re_terms[tb.index]
        frame = pd.DataFrame(tb.b, index=level_index(design, term), columns=term.effect_names)
        if se:
            var = tb.var_comparative if kind == "comparative" else tb.var_conditional
            sd = np.sqrt(np.maximum(np.diagonal(var, axis1=1, axis2=2), 0.0))
            for j, name in enumerate(term.effect_names):
                frame[f"se_{name}"] = sd[:, j]
        if term.label in out:  # e.g. (1 | g) + (0 + x | g): one table per group, as lme4
            prev = out[term.label]
            frame = pd.concat([prev, frame], axis=1)
            effects = [c for c in frame.columns if not str(c).startswith("se_")]
            frame = frame[effects + [c for c in frame.columns if str(c).startswith("se_")]]
        out[term.label] = frame
    return out


# ---- predictions -------------------------------------------------------------------------
def _reffect_columns(design: Design, term) -> list[str]:
    return [f"{term.label}: {name}" for name in term.effect_names]


def _in_sample(result, kind: str) -> pd.Series | pd.DataFrame:
    design = result.design
    frame = design.frame
    index = frame[design.response].index if frame is not None else pd.RangeIndex(design.nobs)
    x = design.x
    beta = np.asarray(result._fit["beta"])
    xb = x @ beta
    if kind == "xb":
        return pd.Series(xb, index=index, name="xb")
    if kind == "stdp":
        return pd.Series(_stdp(x, result), index=index, name="stdp")
    per_term = {tb.index: tb.b[design.re_terms[tb.index].codes] for tb in blups(result)}
    if kind == "reffects":
        return _reffects_frame(design, per_term, index)
    fitted = xb + sum(
        np.sum(design.re_terms[i].z * b, axis=1) for i, b in per_term.items()
    ) if per_term else xb
    if kind == "fitted":
        return pd.Series(fitted, index=index, name="fitted")
    resid = design.y - fitted
    if kind == "residuals":
        return pd.Series(resid, index=index, name="residuals")
    whiten = _whitener(result)
    scaled = resid if whiten is None else whiten(resid)
    return pd.Series(scaled / np.sqrt(result.sigma2), index=index, name="rstandard")


def _stdp(x: np.ndarray, result) -> np.ndarray:
    v = np.asarray(result._fit["vcov"])
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, v, x), 0.0))


def _reffects_frame(design: Design, per_term: dict[int, np.ndarray], index) -> pd.DataFrame:
    parts = {}
    for i, b in sorted(per_term.items()):
        for name, col in zip(_reffect_columns(design, design.re_terms[i]), b.T):
            parts[name] = col
    return pd.DataFrame(parts, index=index)


def _new_frame(design: Design, data: pd.DataFrame, needed: set[str]):
    """ColumnFrame of the complete rows of ``data`` and the mask of those rows."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = sorted(c for c in needed if c not in data.columns)
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} needed for the prediction not found "
            f"in data; available: {', '.join(map(str, data.columns))}"
        )
    complete = np.ones(len(data), dtype=bool)
    columns, numeric = {}, {}
    for name in sorted(needed):
        col = data[name]
        if is_numeric_series(col):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            complete &= np.isfinite(values)
            numeric[name] = values
        else:
            complete &= ~col.isna().to_numpy()
        columns[name] = col
    columns = {k: v[complete] for k, v in columns.items()}
    numeric = {k: v[complete] for k, v in numeric.items()}
    return ColumnFrame(columns, numeric), complete


def _fixed_levels(design: Design, part: LinearPart, new: ColumnFrame) -> dict[str, list]:
    """Estimation-sample levels of the factors in ``part``; unseen levels in ``new`` are errors."""
    levels: dict[str, list] = {}
    if isinstance(part, CodedPart):
        return levels  # formulaic keeps them (and says which level is unseen)
    train = design.frame
    for term in part.terms:
        for var in term.vars:
            if var.expr or var.name in levels or not is_factor(var, train):
                continue
            known = factor_levels(train[var.name])
            levels[var.name] = known
            if len(new):
                unseen = ~pd.Series(new[var.name]).isin(known).to_numpy()
                if unseen.any():
                    bad = pd.Series(new[var.name]).to_numpy()[unseen][0]
                    raise DataError(
                        f"level {bad!r} of {var.name!r} does not occur in the estimation "
                        "sample; the fixed-effects design cannot code it"
                    )
    return levels


def _matrix(design: Design, part: LinearPart, frame: ColumnFrame, names: list[str]):
    levels = _fixed_levels(design, part, frame)
    mat, cols, _ = build_linear(part, frame, design.style, levels)
    have = [c.name for c in cols]
    return mat[:, [have.index(name) for name in names]]


def _new_data(result, kind: str, data: pd.DataFrame):
    design = result.design
    if design.fixed_part is None or design.frame is None:
        raise NotImplementedError("this result does not keep the model parts needed for data=")
    needed = set(linear_vars(design.fixed_part))
    uses_random = kind in ("fitted", "residuals", "rstandard", "reffects")
    if uses_random:
        for term in design.re_terms:
            if term.effects is None:
                raise NotImplementedError("this result does not keep the random-effects parts")
            needed |= set(term.group_vars) | linear_vars(term.effects)
    if kind in ("residuals", "rstandard"):
        needed.add(design.response)
        if kind == "rstandard" and design.residual is not None:
            raise NotImplementedError(
                "rstandard on new data with a residual structure is not supported")
    frame, complete = _new_frame(design, data, needed)
    n_new = int(complete.sum())
    index = data.index
    if kind == "reffects":
        per_term = _new_reffects(result, frame)
        full = {i: _scatter(b, complete) for i, b in per_term.items()}
        return _reffects_frame(design, full, index)
    x = (_matrix(design, design.fixed_part, frame, design.x_names) if n_new
         else np.zeros((0, len(design.x_names))))
    if kind == "stdp":
        return pd.Series(_scatter(_stdp(x, result), complete), index=index, name="stdp")
    value = x @ np.asarray(result._fit["beta"])
    if uses_random:
        for i, b in _new_reffects(result, frame).items():
            term = design.re_terms[i]
            z = _matrix(design, term.effects, frame, term.effect_names) if n_new else b
            value = value + np.sum(z * b, axis=1)
    if kind in ("residuals", "rstandard"):
        value = frame.values(design.response) - value
        if kind == "rstandard":
            value = value / np.sqrt(result.sigma2)
    return pd.Series(_scatter(value, complete), index=index, name=kind)


def _new_reffects(result, frame: ColumnFrame) -> dict[int, np.ndarray]:
    """Per term, the BLUPs of each new row's group; 0 for groups not in the estimation sample."""
    design = result.design
    out = {}
    for tb in blups(result):
        term = design.re_terms[tb.index]
        codes = new_level_codes(design, term, frame)
        b = np.zeros((len(codes), tb.b.shape[1]))
        seen = codes >= 0
        b[seen] = tb.b[codes[seen]]
        out[tb.index] = b
    return out


def _scatter(values: np.ndarray, complete: np.ndarray) -> np.ndarray:
    out = np.full((len(complete),) + values.shape[1:], np.nan)
    out[complete] = values
    return out


def predict(result, kind: str = "xb", data: pd.DataFrame | None = None):
    """Stata's ``predict`` after ``mixed``: xb, fitted, residuals, rstandard, reffects, stdp.

    ``fitted`` includes the BLUPs (Stata's ``fitted``; the marginal prediction is
    ``xb``); ``rstandard`` is the residual times the inverse square root of the
    fitted residual covariance (the residual over σ̂ without residuals()).
    With ``data=``, the fixed design is rebuilt with the estimation sample's
    factor levels; groups not seen in estimation get random effects 0, rows
    with missing values give NaN.
    """
    if kind not in KINDS:
        raise SpecError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    require_estimates(result, f"predict(kind={kind!r})")
    if data is None:
        return _in_sample(result, kind)
    return _new_data(result, kind, data)
