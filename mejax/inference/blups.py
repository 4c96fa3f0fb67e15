"""BLUPs of the random effects with standard errors after ``mixed`` (the profiled Gaussian).

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
The Gaussian posterior's mean and mode coincide, so these are also the
empirical Bayes means and modes that :mod:`mejax.inference.predict` asks for.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import scipy  # scipy.linalg and scipy.sparse load on first use (scipy's lazy submodules)

from ..families.gaussian import Gaussian
from ..linalg.residual_blocks import covariance_index_arrays, group_rows
from ..models.lmm import LmmStructure, lambdas_from_theta, residual_eta
from ..spec.model import SpecError
from .effects import Predictive, RandomEffects, TermEffects, register_predictive
from .predict import LINEAR_KINDS

SE_TYPES = ("stata", "conditional", "comparative")
_CHUNK = 2**22  # entries of the dense T = L⁻¹W' formed at a time


@dataclass
class TermBlups:
    """BLUPs of one term, levels in code order, and their variances (or None)."""

    index: int  # position in design.re_terms
    b: np.ndarray  # (n_levels, k)
    var_conditional: np.ndarray  # (n_levels, k, k)
    var_comparative: np.ndarray  # (n_levels, k, k)
    prior: np.ndarray  # (k, k) covariance σ²ΛΛ' of the term's effects


# ---- the penalized system ------------------------------------------------------------
def lambdas(result) -> list[np.ndarray]:
    report = result.report
    lams = lambdas_from_theta(jnp.asarray(report.theta), report.model)
    return [np.asarray(lam, dtype=float) for lam in lams]


def whitener(result):
    """x ↦ R̃^{-1/2}x within residual groups (Cholesky, time order), or None without residuals()."""
    design, report = result.design, result.report
    res = design.residual
    if res is None:
        return None
    model = report.model
    index, mask = group_rows(res)
    # the full R̃_i, also for AR(1)/exponential, whose fit stores only the gaps
    arrays = {**report.arrays, **covariance_index_arrays(res, index, mask)}
    theta = np.asarray(report.theta)
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
    design, report = result.design, result.report
    order = list(report.order)
    if not order:
        _BLUP_CACHE[result] = []
        return []
    lams = lambdas(result)[: len(order)]
    whiten = whitener(result)
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
    resid = y - x @ np.asarray(report.beta)
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
    s2 = float(report.sigma2)
    out, start = [], 0
    for lam, ti, (n_levels, k), c_cond, c_comp in zip(lams, order, sizes, cond, comp):
        u_t = u[start : start + n_levels * k].reshape(n_levels, k)
        start += n_levels * k
        out.append(TermBlups(
            ti, u_t @ lam.T,
            s2 * np.einsum("ij,gjk,lk->gil", lam, c_cond, lam),
            s2 * np.einsum("ij,gjk,lk->gil", lam, c_comp, lam),
            s2 * lam @ lam.T,
        ))
    out.sort(key=lambda t: t.index)
    _BLUP_CACHE[result] = out
    return out




def check_se_type(result, se_type: str | None) -> str:
    """"conditional" or "comparative" from ``se_type`` (Stata's rule for "stata")."""
    se_type = se_type or ("stata" if result.design.style == "stata" else "conditional")
    if se_type not in SE_TYPES:
        raise SpecError(f"se_type must be one of {', '.join(SE_TYPES)}; got {se_type!r}")
    if se_type == "stata":
        return "comparative" if result.reml else "conditional"
    return se_type


def blup_effects(result, se_type: str | None = None) -> RandomEffects:
    """The BLUPs of every term with the variance ``se_type`` names."""
    kind = check_se_type(result, se_type)
    terms = [TermEffects(t.index, t.b, t.var_comparative if kind == "comparative"
                         else t.var_conditional, t.prior) for t in blups(result)]
    return RandomEffects("blups", terms)


class LinearPredictive(Predictive):
    """The linear model as the Gaussian identity preset: BLUPs, σ_e, residual structures."""

    family = Gaussian()
    kinds = LINEAR_KINDS
    default_kind = "xb"

    def __init__(self, result):
        self.result = result

    def random_effects(self, ebmodes=False, nodes=None, se_type=None) -> RandomEffects:
        """The BLUPs (the Gaussian posterior's mean and mode alike)."""
        return blup_effects(self.result, se_type)

    def outcome_rows(self):
        return np.zeros(self.result.nobs), {}, self.result.design.y

    def family_aux(self) -> np.ndarray:
        return np.array([0.5 * np.log(self.result.sigma2)])  # ln σ_e

    def marginal_variance(self, z):
        """σ²|z_i'Λ|² summed over the terms (their columns side by side in ``z``)."""
        result = self.result
        out, start = np.zeros(len(z)), 0
        order = list(result.report.order)
        if not order:
            return out
        lams = dict(zip(order, lambdas(result)[: len(order)]))
        for ti, term in enumerate(result.design.re_terms):
            k = term.z.shape[1]
            out += result.sigma2 * np.sum((z[:, start:start + k] @ lams[ti]) ** 2, axis=1)
            start += k
        return out

    def residual_whitener(self):
        return whitener(self.result)

    def estimates(self):
        """β and its covariance (Kenward–Roger's under dfmethod(kroger)): xb is all the
        linear model's margins predict."""
        return np.asarray(self.result.fixef, dtype=float), self.result.vcov.to_numpy(), None

    def variances(self):
        uncertainty = self.result.uncertainty
        return (np.asarray(uncertainty.entries, dtype=float),
                np.asarray(uncertainty.entries_cov, dtype=float))


register_predictive(LmmStructure, LinearPredictive)
