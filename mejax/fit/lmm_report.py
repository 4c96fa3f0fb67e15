"""The report of a linear mixed-model fit: the Gaussian identity preset, profiled.

:func:`lmm_report` turns what :func:`mejax.fit.mixed.fit_design` returned into
the :class:`~.report.FitReport` the one result type reads: the deviance
profiled over β and σ², θ in block order, Var(β̂) from the profiled fit, and
the variance components' covariances from the differences of its program.
"""

from __future__ import annotations

import numpy as np

from ..families.gaussian import Gaussian
from ..spec.design import Design
from .report import FitReport, ResidualEstimate, Uncertainty

GAUSSIAN_IDENTITY = Gaussian()  # the preset's family


def lmm_report(design: Design, fit: dict, reml: bool) -> FitReport:
    """The report of ``fit`` (:func:`mejax.fit.mixed.fit_design`'s outputs) on ``design``."""
    method = "REML" if reml else "ML"
    theta = np.asarray(fit["theta"])
    beta = np.asarray(fit["beta"])
    return FitReport(
        name="MixedResult", description=method, method=method, family=GAUSSIAN_IDENTITY,
        model=fit["model"], arrays=fit["arrays"], outputs=fit,
        converged=bool(fit["converged"]), loglik=-0.5 * float(fit["deviance"]),
        reml=bool(reml), beta=beta, theta=theta,
        params=np.concatenate([beta, theta, [0.5 * np.log(float(fit["sigma2"]))]]),
        n_params=len(beta) + len(fit["phi"]), sigma2=float(fit["sigma2"]),
        order=list(fit["order"]), entries=lambda: fit["entries"],
        fixef_vcov=lambda: fit["vcov"], uncertainty=lambda: _uncertainty(design, fit),
        base_loglik=lambda: linear_loglik(design, reml), lr_df=len(fit["phi"]) - 1,
        response_label=design.response, iterations=tuple(fit.get("iterations", ())),
    )


def _uncertainty(design: Design, fit: dict) -> Uncertainty:
    """The delta-method covariances of the entries and φ, and the residual rows."""
    entries, phi = fit["entries"], fit["phi"]
    entries_cov, phi_cov = fit["inference"]()
    return Uncertainty(entries=entries, entries_cov=entries_cov, phi=phi, phi_cov=phi_cov,
                       residual=_residual(design, fit, entries, phi, entries_cov, phi_cov))


def _residual(design, fit, entries, phi, entries_cov, phi_cov) -> tuple[ResidualEstimate, ...]:
    """σ²_e, or every parameter of the residual structure, after the terms' entries."""
    residual = fit["model"].residual
    if residual is None:
        return (ResidualEstimate(float(entries[-1]), float(np.sqrt(max(entries_cov[-1, -1], 0.0))),
                                 phi[-1], np.sqrt(max(phi_cov[-1, -1], 0.0))),)
    terms = [design.re_terms[t].structure for t in fit["order"]]
    e_index = sum(len(s.entries()) for s in terms)
    phi_index = sum(s.n_phi() for s in terms)
    names = residual.parameter_names()
    out = []
    for n in range(len(entries) - e_index):
        by = residual.by_labels[n // len(names)] if residual.n_by > 1 else None
        name, scale = names[n % len(names)]
        e, f = e_index + n, phi_index + n
        out.append(ResidualEstimate(
            float(entries[e]), np.sqrt(max(entries_cov[e, e], 0.0)), phi[f],
            np.sqrt(max(phi_cov[f, f], 0.0)), structure=residual.title(), name=name,
            scale=scale, by=by))
    return tuple(out)


def linear_loglik(design: Design, reml: bool) -> float:
    """Log likelihood of the model without random effects (same ML/REML)."""
    x, y = design.x, design.y
    n, p = x.shape
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    rss = float(np.sum((y - x @ beta) ** 2))
    if not reml:
        return -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    logdet_xtx = np.linalg.slogdet(x.T @ x)[1]
    return -0.5 * ((n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1) + logdet_xtx)
