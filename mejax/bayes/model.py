"""A Bayesian multilevel model: its layout, family and host-side arrays.

:func:`build_model` takes the :class:`mejax.spec.design.Design` the front ends
build (the same one maximum likelihood fits) and returns the static
:class:`BayesModel` (a hashable jit argument) with the row arrays the traced
log density reads, and a starting point on the sampling scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..families import Family
from ..fit.glmm import prepare
from ..models.glmm_structure import GlmmStructure
from ..models.nonlinear import NonlinearStructure
from ..spec.design import Design
from .layout import Layout, build_layout

# how integrate= may take the random effects out: the maximum-likelihood engine's integrators
INTEGRATORS = ("laplace", "mvaghq", "mcaghq", "ghq")


@dataclass(frozen=True)
class BayesModel:
    """The static description of the posterior (hashable)."""

    layout: Layout
    family: Family | None  # None: a linear model (normal errors)
    # with the random effects integrated out: the engine's structure (arrays["engine"])
    integrated: GlmmStructure | None = None
    # bayes: menl: the nonlinear model whose compiled mean f(β, b) replaces Xβ + Zb
    nonlinear: NonlinearStructure | None = None

    @property
    def title(self) -> str:
        if self.nonlinear is not None:
            return "Bayesian multilevel nonlinear regression"
        if self.family is None:
            return "Bayesian multilevel regression"
        return "Bayesian multilevel " + self.family.title.removeprefix(
            "Mixed-effects ").removesuffix(" regression") + " regression"


def build_model(design: Design, priors=None, defaults: dict | None = None,
                integrate: str | None = None, nodes: int = 7) -> tuple[BayesModel, dict]:
    """The model and its arrays: x, offset, per-term z (in U order) and codes, the row data.

    With ``integrate`` (one of :data:`INTEGRATORS`, ``nodes`` points per effect
    for the quadratures) the random effects are integrated out by the
    maximum-likelihood engine and only β, the covariance parameters and aux are
    sampled; its arrays go under ``"engine"``.
    """
    family = design.glm.family if design.glm is not None else None
    engine = _integrator(design, integrate, nodes)
    layout = build_layout(design, priors, gaussian=family is None, defaults=defaults)
    n = design.nobs
    arrays = {
        "x": np.asarray(design.x, float),
        "offset": np.zeros(n) if design.glm is None else np.asarray(design.glm.offset, float),
        "z": tuple(np.asarray(t.z, float)[:, list(tl.order)]
                   for t, tl in zip(design.re_terms, layout.terms)),
        "codes": tuple(np.asarray(t.codes, np.int32) for t in design.re_terms),
        "rows": ({"y": np.asarray(design.y, float)} if design.glm is None
                 else {k: np.asarray(v) for k, v in design.glm.data.items()}),
    }
    arrays["beta_map"] = beta_map(arrays["x"])
    if engine is None:
        return BayesModel(layout, family), arrays
    model, arrays["engine"] = engine
    return BayesModel(layout, family, model), arrays


def beta_map(x: np.ndarray) -> np.ndarray:
    """M with β = M θ and X M = √n Q (X = QR): the coefficients' sampling coordinates.

    rstanarm's QR reparameterisation: Q's columns are orthonormal, so θ is
    close to uncorrelated a posteriori and on the scale of the outcome's η.
    """
    n, p = x.shape
    if p == 0:
        return np.zeros((0, 0))
    r = np.linalg.qr(x, mode="r")
    return np.linalg.solve(r, np.eye(p)) * np.sqrt(n)


def _integrator(design: Design, integrate: str | None, nodes: int):
    """The engine's (structure, arrays) that integrate the effects out, or None."""
    if integrate is None:
        return None
    if integrate not in INTEGRATORS:
        raise SpecError(f"integrate={integrate!r} is not an integration method; use one of "
                        f"{', '.join(INTEGRATORS)} (or None to sample the random effects)")
    if design.glm is None:  # the front ends build linear models as the Gaussian family here
        raise SpecError("integrate= needs the model's family; build the design with "
                        "linear_family=True (mejax.designs.formula_design)")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise SpecError(f"intpoints={nodes!r} must be a positive integer")
    return prepare(design, integrate, 1 if integrate == "laplace" else nodes)


def start_position(design: Design, model: BayesModel, arrays: dict) -> dict:
    """A central starting point on the sampling scale, before each chain's jitter.

    Linear models start at least squares with the residual variance split over
    the variance components; GLMMs at β = 0 (intercept at the link of the mean
    outcome is left to warm-up), unit variances and the family's start for aux.
    """
    layout = model.layout
    x, y = arrays["x"], arrays["rows"]["y"]
    if model.family is None:
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        share = max(float(np.var(y - x @ beta)), 1e-8) / (len(layout.terms) + 1)
    else:
        beta = np.zeros(layout.p)
        share = 1.0
    cov = []
    for term in layout.terms:
        if term.kind == "unstructured":
            free = np.zeros(term.n_free)
            rows, cols = np.array([(i, j) for j in range(term.k) for i in range(j, term.k)]).T
            free[rows == cols] = 0.5 * np.log(share)
        elif term.kind == "exchangeable":  # correlation 0
            free = np.array([np.log(share), np.log(-term.rho_min)])
        else:
            free = np.full(term.n_free, np.log(share))
        cov.append(free)
    position = {"beta": beta, "cov": tuple(cov),
                "u": () if model.integrated is not None else
                tuple(np.zeros((t.n_levels, t.k)) for t in layout.terms)}
    if layout.sigma2_name:
        position["log_sigma2"] = np.array([np.log(share)])
    if layout.aux_names:
        position["aux"] = np.asarray(model.family.aux_start(
            design.glm.data, design.glm.n_categories), float)
    else:
        position["aux"] = np.zeros(0)
    return position
