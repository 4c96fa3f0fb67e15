"""``bayes: menl``: a nonlinear mixed model's layout, arrays and start (host side).

The posterior is the nonlinear model's own joint density: y_i ~ N(f_i(β, b), σ²) with
f the compiled menl mean (:mod:`mejax.models.nonlinear`, the one Lindstrom–Bates
fits), the random effects sampled non-centred (b = L u per group, u ~ N(0, I)) and
the priors on the named parameters. Names follow menl's output and bayesmh's
nonlinear models: the fixed parameters as written, ``{b1}``, ``{b2}``, ...; each
random effect's variance ``{var_U}`` (identity and independent covariances);
a level's common variance and covariance ``{var_S}``, ``{cov_S}`` (exchangeable) or
covariance matrix ``{Sigma_S,m}`` (unstructured), S the common stem of its effects'
names (``U`` for ``U0 U1``; the level's variable where they share none); the
residual variance ``{sigma2}``. Stata's default priors: normal(0, 10000) on the
fixed parameters, igamma(0.01, 0.01) on variances, iwishart(k + 1, I(k)) on
unstructured covariances. Homoskedastic independent errors only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..cov.variance import Constant
from ..errors import SpecError
from ..fit.menl import NonlinearDesign
from ..spec.menl_syntax import MenlSpec
from .layout import Layout, TermLayout, vech_indices, with_priors
from .model import BayesModel
from .posterior import free_from_reported, term_factor

_KINDS = {"Identity": "identity", "Independent": "independent",
          "Exchangeable": "exchangeable", "Unstructured": "unstructured"}


@dataclass(frozen=True)
class MlEstimates:
    """The maximum-likelihood menl fit the chains start from (engine level order)."""

    beta: np.ndarray
    vcov: np.ndarray  # of β: the scale of the coefficients' sampling coordinates
    covariances: tuple[np.ndarray, ...]  # Σ of each level's effects (k × k)
    effects: tuple[np.ndarray, ...]  # the predicted b of each level (groups × k)
    sigma2: float


def check_options(spec: MenlSpec) -> None:
    """Refuse the menl options whose posterior ``bayes:`` does not sample (SpecError)."""
    refused = []
    if spec.reml:
        refused.append(("reml", "REML is a likelihood criterion; the posterior uses the "
                        "full likelihood"))
    if spec.method != "linearization" or spec.intpoints is not None:
        refused.append(("intmethod()/intpoints()", "the random effects are sampled, not "
                        "integrated"))
    if spec.resvariance is not None and spec.resvariance.split(",")[0].strip().lower() \
            not in ("", "identity", "id", "iden"):
        refused.append((f"resvariance({spec.resvariance})", "not supported yet"))
    for name, given in (("rescorrelation", spec.rescorrelation),
                        ("rescovariance", spec.rescovariance)):
        if given is not None:
            refused.append((f"{name}()", "not supported yet"))
    if refused:
        option, why = refused[0]
        raise SpecError(f"bayes: menl does not take {option} ({why}); it samples "
                        "homoskedastic independent normal errors with random effects of "
                        "any covariance (identity, independent, exchangeable, unstructured): "
                        "drop the option")


def check_design(design: NonlinearDesign) -> None:
    """What :func:`check_options` refuses, given as keywords of :func:`mejax.menl`."""
    model = design.model
    if not isinstance(model.variance, Constant):
        raise SpecError("bayes: menl samples homoskedastic errors; drop resvariance()")
    if model.residual is not None:
        raise SpecError("bayes: menl samples independent errors; drop rescorrelation() / "
                        "rescovariance()")
    if model.reml:
        raise SpecError("bayes: menl does not take reml; drop it")


def _stub(names: tuple[str, ...], level: str) -> str:
    """The common stem of a level's effect names without trailing digits, else the level."""
    stem = os.path.commonprefix(list(names)).rstrip("0123456789")
    return stem or level.replace("<", "_")


def nonlinear_layout(design: NonlinearDesign, priors=None,
                     defaults: dict | None = None) -> Layout:
    """The named parameters of ``design`` with their priors (module docstring)."""
    model = design.model
    terms, stubs = [], set()
    for level, names, structure, n in zip(design.levels, model.effects, model.structures,
                                          model.n_groups):
        kind = _KINDS.get(structure.label)
        if kind is None:
            raise SpecError(f"bayes: menl: covariance({structure.label.lower()}) of "
                            f"{level.name} is not supported; use identity, independent, "
                            "exchangeable or unstructured")
        if kind == "exchangeable" and len(names) == 1:
            kind = "identity"
        stub = _stub(names, level.name)
        if stub in stubs:
            stub = level.name.replace("<", "_")
        stubs.add(stub)
        terms.append(TermLayout(stub, level.name, kind, tuple(names), tuple(names),
                                tuple(range(len(names))), int(n)))
    layout = Layout(design.response, tuple(model.fixed), tuple(terms), "sigma2", ())
    return with_priors(layout, priors, defaults)


def build_nonlinear_model(design: NonlinearDesign, ml: MlEstimates, priors=None,
                          defaults: dict | None = None) -> tuple[BayesModel, dict]:
    """The model and its arrays: the rows' data, group codes, y and the β map.

    β is sampled as M θ with M the Cholesky factor of the ML covariance of β: close to
    uncorrelated and of unit scale a posteriori, as the QR map does for linear models.
    """
    check_design(design)
    layout = nonlinear_layout(design, priors, defaults)
    arrays = {"data": {k: np.asarray(v, float) for k, v in design.arrays.data.items()},
              "codes": tuple(np.asarray(c, np.int32) for c in design.arrays.codes),
              "rows": {"y": np.asarray(design.y, float)},
              "beta_map": _beta_map(np.asarray(ml.vcov, float), np.asarray(ml.beta, float))}
    return BayesModel(layout, None, nonlinear=design.model), arrays


def _beta_map(vcov: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Cholesky factor of the ML covariance; a diagonal of |β| (or 1) where it is not PD."""
    if np.all(np.isfinite(vcov)):
        try:
            return np.linalg.cholesky(vcov)
        except np.linalg.LinAlgError:
            pass
    return np.diag(np.where(np.abs(beta) > 0, np.abs(beta), 1.0))


def _term_values(sigma: np.ndarray, term: TermLayout, floor: float) -> np.ndarray:
    """The term's reported covariance parameters from Σ, variances at least ``floor``."""
    var = np.maximum(np.diag(sigma), floor)
    if term.kind == "identity":
        return np.array([var.mean()])
    if term.kind == "independent":
        return var
    scale = np.sqrt(np.outer(var, var))
    corr = np.clip(sigma / scale, -0.95, 0.95)
    if term.kind == "exchangeable":
        off = corr[~np.eye(term.k, dtype=bool)].mean()
        return np.array([var.mean(), var.mean() * max(off, 0.9 * term.rho_min)])
    sigma = corr * scale
    np.fill_diagonal(sigma, var)
    rows, cols = vech_indices(term.k)
    return sigma[rows, cols]


def start_at_estimates(model: BayesModel, ml: MlEstimates, initial: dict | None = None
                       ) -> dict:
    """The ML estimates on the sampling scale (each chain adds its jitter): β (with
    ``initial``'s values by name), covariance parameters, u = L⁻¹ b and log σ²."""
    layout = model.layout
    beta = np.asarray(ml.beta, float).copy()
    for ref, value in (initial or {}).items():
        key = str(ref).strip().strip("{}")
        if key not in layout.coef_names:
            raise SpecError(f"initial(): {{{key}}} is not a fixed parameter; they are "
                            f"{', '.join('{' + c + '}' for c in layout.coef_names)}")
        beta[layout.coef_names.index(key)] = float(value)
    sigma2 = max(float(ml.sigma2), 1e-8)
    cov, us = [], []
    for term, sigma, b in zip(layout.terms, ml.covariances, ml.effects):
        free = free_from_reported(_term_values(np.asarray(sigma, float), term,
                                               1e-4 * sigma2), term)
        lower = np.asarray(term_factor(free, term))
        cov.append(free)
        us.append(np.linalg.solve(lower, np.asarray(b, float).T).T)
    return {"beta": beta, "cov": tuple(cov), "u": tuple(us),
            "log_sigma2": np.array([np.log(sigma2)]), "aux": np.zeros(0)}
