"""Small-sample degrees of freedom for fixed effects: Stata's ``mixed, dfmethod()``.

``residual`` (n − rank X), ``repeated`` (between/within-group split, two-level
models), ``anova`` (containment), ``satterthwaite`` (lmerTest) and ``kroger``
(pbkrtest: adjusted covariance Φ_A, df and scaled F). The derivatives come
from :mod:`mejax.inference.dof_kr`; this module is the host-side algebra on
p×p matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..spec.model import SpecError
from .dof_kr import kenward_roger_core, satterthwaite_core

METHODS = ("residual", "repeated", "anova", "satterthwaite", "kroger")
_MIN_ABBREV = {"residual": "res", "repeated": "rep", "anova": "anova",
               "satterthwaite": "sat", "kroger": "kr"}
TITLES = {"residual": "Residual", "repeated": "Repeated", "anova": "ANOVA",
          "satterthwaite": "Satterthwaite", "kroger": "Kenward–Roger"}


def canonical_dfmethod(name: str | None, reml: bool) -> str | None:
    """Full method name from Stata's spelling/abbreviation; kroger/satterthwaite need REML."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise SpecError("dfmethod must be a string such as 'kroger'")
    key = name.strip().lower().replace("-", "").replace("_", "")
    key = {"kenwardroger": "kroger", "kr": "kroger"}.get(key, key)
    full = next((m for m in METHODS if m.startswith(key) and key.startswith(_MIN_ABBREV[m])),
                None)
    if full is None:
        raise SpecError(f"unknown dfmethod {name!r}; use one of {', '.join(METHODS)}")
    if full in ("kroger", "satterthwaite") and not reml:
        raise SpecError(f"dfmethod({full}) is only allowed with REML estimation (add reml)")
    return full


@dataclass
class SmallSample:
    """Per-coefficient df and, for Kenward–Roger, the adjusted covariance."""

    method: str
    df: np.ndarray
    vcov: np.ndarray  # Φ_A for kroger, the unadjusted Φ otherwise
    extra: dict

    def f_test(self, beta: np.ndarray, index: list[int]) -> dict:
        """F test that β[index] = 0: KR-scaled F, Satterthwaite (Fai–Cornelius) or plain."""
        q = len(index)
        if q == 0:
            return {"F": np.nan, "df1": 0, "df2": np.nan, "p": np.nan}
        lmat = np.eye(len(beta))[index]
        if self.method == "kroger":
            return kr_f_test(lmat, beta, self.extra)
        if self.method == "satterthwaite":
            return satterthwaite_f_test(lmat, beta, self.extra)
        v = lmat @ self.vcov @ lmat.T
        b = lmat @ beta
        f = float(b @ np.linalg.solve(v, b)) / q
        df2 = float(np.min(self.df[index]))  # the smallest df of the tested coefficients
        return _f_result(f, q, df2)


def _f_result(f: float, q: int, df2: float) -> dict:
    return {"F": f, "df1": q, "df2": df2, "p": float(special.fdtrc(q, df2, f))}


# ---- Kenward–Roger ----------------------------------------------------------------
def _kr_a1_a2(lmat, extra) -> tuple[float, float]:
    phi, pp, w = extra["phi"], extra["P"], extra["W"]
    theta = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
    u = np.einsum("ab,bc,cdi,de->aei", theta, phi, pp, phi)  # u_i = ΘΦ P_i Φ
    tr = np.einsum("aai->i", u)
    a1 = float(tr @ w @ tr)
    a2 = float(np.einsum("ij,abi,baj->", w, u, u))
    return a1, a2


def kr_ddf(lmat, extra) -> tuple[float, float]:
    """pbkrtest's Lb_ddf/.KR_adjust: denominator df and F scaling for H0: Lβ = 0."""
    q = np.linalg.matrix_rank(lmat)
    a1, a2 = _kr_a1_a2(lmat, extra)
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v0, v1, v2 = 1 + c1 * b, 1 - c2 * b, 1 - c3 * b
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    ratio = (1 - a2 / q) / v1 if abs(v1) > 1e-15 else 1.0
    rho = ratio**2 * v0 / v2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 0.01 else df2 * (1 - a2 / q) / (df2 - 2)
    return float(df2), float(scaling)


def kr_f_test(lmat, beta, extra) -> dict:
    q = int(np.linalg.matrix_rank(lmat))
    df2, scaling = kr_ddf(lmat, extra)
    b = lmat @ beta
    wald = float(b @ np.linalg.solve(lmat @ extra["phi_a"] @ lmat.T, b))
    out = _f_result(scaling * wald / q, q, df2)
    out["F_scaling"] = scaling
    return out


def kroger(fit: dict) -> SmallSample:
    """Kenward–Roger as pbkrtest: Φ_A and the per-coefficient df (no residual structures)."""
    model = fit["model"]
    if model.residual is not None:
        raise SpecError("dfmethod(kroger) is not supported with residuals(); "
                        "use dfmethod(satterthwaite)")
    phi, phi_a, pp, w = (np.asarray(a) for a in kenward_roger_core(
        fit["theta"], fit["sigma2"], fit["arrays"], model))
    extra = {"phi": phi, "phi_a": phi_a, "P": pp, "W": w}
    # one coefficient: A1 = A2 = d'Wd with d_i = (ΦP_iΦ)_cc / Φ_cc, and the KR df is 2 / A2
    d = np.einsum("ac,abi,bc->ci", phi, pp, phi) / np.diag(phi)[:, None]
    df = 2.0 / np.einsum("ci,ij,cj->c", d, w, d)
    return SmallSample("kroger", df, phi_a, extra)


# ---- Satterthwaite ----------------------------------------------------------------
def satterthwaite_f_test(lmat, beta, extra) -> dict:
    """lmerTest's contestMD: eigen-decomposed Satterthwaite df combined as Fai & Cornelius."""
    phi, jac, a = extra["phi"], extra["jac"], extra["A"]
    vl = lmat @ phi @ lmat.T
    vals, vecs = np.linalg.eigh(vl)
    keep = vals > 1e-8 * max(vals.max(), 0.0)
    vals, vecs = vals[keep], vecs[:, keep]
    q = len(vals)
    pl = vecs.T @ lmat
    t2 = (pl @ beta) ** 2 / vals
    grads = np.einsum("ma,abi,mb->mi", pl, jac, pl)
    nu = 2 * vals**2 / np.einsum("mi,ij,mj->m", grads, a, grads)
    f = float(np.sum(t2)) / q
    if q == 1:
        return _f_result(f, 1, float(nu[0]))
    e = float(np.sum(nu / (nu - 2) * (nu > 2)))
    df2 = 2 * e / (e - q) if e > q else np.nan
    return _f_result(f, q, float(df2))


def satterthwaite(fit: dict) -> SmallSample:
    """df_c = 2 Φ_cc² / (g'Ag), g = ∂Φ_cc/∂(θ, log σ), A from the REML Hessian (lmerTest)."""
    phi, jac, a = (np.asarray(v) for v in satterthwaite_core(
        fit["theta"], fit["sigma2"], fit["arrays"], fit["model"]))
    g = np.einsum("cci->ci", jac)
    df = 2 * np.diag(phi) ** 2 / np.einsum("ci,ij,cj->c", g, a, g)
    return SmallSample("satterthwaite", df, fit["vcov"], {"phi": phi, "jac": jac, "A": a})


# ---- design-based methods ---------------------------------------------------------
def _rank(m: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(m)) if m.size else 0


def _constant_within(col: np.ndarray, codes: np.ndarray, n_levels: int) -> bool:
    """True when ``col`` takes one value within every level of ``codes``."""
    lo = np.full(n_levels, np.inf)
    hi = np.full(n_levels, -np.inf)
    np.minimum.at(lo, codes, col)
    np.maximum.at(hi, codes, col)
    scale = max(float(np.max(np.abs(col))), 1.0)
    return bool(np.all(hi - lo <= 1e-10 * scale))


def _within(m: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Columns of ``m`` minus their group means (projection off the group indicators)."""
    counts = np.bincount(codes, minlength=n_levels)[:, None]
    sums = np.zeros((n_levels, m.shape[1]))
    np.add.at(sums, codes, m)
    return m - (sums / np.maximum(counts, 1))[codes]


def repeated(design) -> np.ndarray:
    """Between-group effects: G − rank(X_between); within: n − G − rank(within part of X)."""
    if len(design.re_terms) != 1:
        raise SpecError("dfmethod(repeated) is only allowed with two-level models "
                        "(one random-effects equation)")
    term = design.re_terms[0]
    x, codes, g = design.x, term.codes, term.n_levels
    between = np.array([_constant_within(x[:, j], codes, g) for j in range(x.shape[1])])
    df_between = g - _rank(x[:, between])
    df_within = design.nobs - g - _rank(_within(x[:, ~between], codes, g))
    return np.where(between, df_between, df_within).astype(float)


def anova(design) -> np.ndarray:
    """Containment: a coefficient whose column is (a random-effect variable × a group
    constant) gets the rank that random effect adds to [X, Z]; others n − rank([X, Z])."""
    x = design.x
    effects = []
    for term in design.re_terms:
        for k in range(term.z.shape[1]):
            z = np.zeros((design.nobs, term.n_levels))
            z[np.arange(design.nobs), term.codes] = term.z[:, k]
            effects.append((term, k, z))
    if design.nobs * (x.shape[1] + sum(z.shape[1] for *_, z in effects)) > 5e7:
        raise SpecError("dfmethod(anova) needs the dense [X, Z]; the model is too large")
    full = np.column_stack([x] + [z for *_, z in effects])
    rank_full = _rank(full)
    contribution = []
    for i in range(len(effects)):
        others = np.column_stack([x] + [z for j, (*_, z) in enumerate(effects) if j != i])
        contribution.append(rank_full - _rank(others))
    df = np.full(x.shape[1], float(design.nobs - rank_full))
    for j in range(x.shape[1]):
        for (term, k, _), contrib in zip(effects, contribution):
            zk = term.z[:, k]
            nz = np.abs(zk) > 0
            if not np.any(nz) or np.any(np.abs(x[~nz, j]) > 0):
                continue
            ratio = np.where(nz, x[:, j] / np.where(nz, zk, 1.0), 0.0)
            if _constant_within(ratio[nz], term.codes[nz], term.n_levels) and contrib > 0:
                df[j] = min(df[j], float(contrib))
    return df


def small_sample(method: str, design, fit: dict) -> SmallSample:
    """Degrees of freedom (and KR covariance) for ``method`` on a fitted model."""
    if method == "kroger":
        return kroger(fit)
    if method == "satterthwaite":
        return satterthwaite(fit)
    vcov = np.asarray(fit["vcov"])
    if method == "residual":
        df = np.full(design.x.shape[1], float(design.nobs - _rank(design.x)))
    elif method == "repeated":
        df = repeated(design)
    elif method == "anova":
        df = anova(design)
    else:
        raise SpecError(f"unknown dfmethod {method!r}")
    return SmallSample(method, df, vcov, {})
