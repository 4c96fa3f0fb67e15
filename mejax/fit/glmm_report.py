"""The report of a generalized linear mixed-model fit (melogit, mepoisson, ...).

:func:`glmm_report` turns what :func:`mejax.fit.glmm.fit_glmm_design` returned
into the :class:`~.report.FitReport` the one result type reads. Standard errors
come from the inverse of the observed information (central differences of the
exact gradient in β, θ and the family's parameters), or the sandwich around it
with weights, vce() or svy, by the delta method through the Jacobians of the
reported values.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..linalg.scaling import scaled_inverse
from ..spec.design import Design
from .report import FitReport, ResidualEstimate, Uncertainty
from .sandwich import sandwich

METHOD_NAMES = {"laplace": "Laplace", "mvaghq": "mvaghermite", "mcaghq": "mcaghermite",
                "ghq": "ghermite"}


def glmm_report(design: Design, fit: dict) -> FitReport:
    """The report of ``fit`` (with its ``weights`` and ``sampling``) on ``design``."""
    model, glm = fit["model"], design.glm
    family = glm.family
    params = np.asarray(fit["params"])
    p = model.p
    integration = model.integration
    method = METHOD_NAMES[integration.used]
    uncertainty = cache(lambda: _uncertainty(design, fit))
    aux_names = () if family.residual_variance_aux else tuple(
        family.aux_names(model.n_categories))  # σ²_e is a variance component
    return FitReport(
        name="GlmmResult", description=f"{family.title} ({method})", method=method,
        family=family, model=model, arrays=fit["arrays"], outputs=fit,
        converged=bool(fit["converged"]), loglik=float(fit["loglik"]), reml=False,
        beta=np.asarray(fit["beta"]), theta=params[p : p + model.n_theta()].copy(),
        params=params, n_params=len(params), sigma2=1.0,  # the latent scale
        order=list(fit["order"]), entries=lambda: uncertainty().entries,
        fixef_vcov=lambda: uncertainty().params_vcov[:p, :p], uncertainty=uncertainty,
        base_loglik=lambda: float(fit["base_loglik"]), lr_df=model.n_theta(),
        lr_versus=family.base_model, title=family.title, integration=integration.used,
        nodes=integration.used_nodes, shows_integration=not family.exact_laplace,
        response_label=family.response_label(design.response),
        preamble=tuple(family.preamble()),
        header_rows=tuple(family.header_rows({**glm.given, **glm.data})),
        aux_names=aux_names,
        derived_aux_names=tuple(family.derived_aux_names(design.response, model.n_categories)),
        notes=_notes(design, fit), iterations=tuple(fit.get("iterations", ())),
        weights=fit.get("weights"), sampling=fit.get("sampling"),
    )


def _uncertainty(design: Design, fit: dict) -> Uncertainty:
    info, jacs, values = fit["inference"]()
    try:
        cov = np.asarray(scaled_inverse(info))
        if not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError("singular information")
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(info)
    sampling = fit.get("sampling")
    if sampling is not None:
        cov = sandwich(cov, fit["cluster_scores"](), sampling)
    aux_cov = jacs[2] @ cov @ jacs[2].T
    family = design.glm.family
    residual: tuple[ResidualEstimate, ...] = ()
    if family.residual_variance_aux:  # Gaussian: σ²_e = exp(2 ln σ_e)
        var = float(values[2][0])
        se = float(np.sqrt(max(aux_cov[0, 0], 0.0)))
        residual = (ResidualEstimate(var, se, 0.5 * np.log(var), se / (2 * var),
                                     label=family.residual_label(design.response)),)
    return Uncertainty(
        entries=values[0], entries_cov=jacs[0] @ cov @ jacs[0].T, phi=values[1],
        phi_cov=jacs[1] @ cov @ jacs[1].T, residual=residual, aux=values[2], aux_cov=aux_cov,
        params_vcov=cov, information=info, jacobians=tuple(jacs), values=tuple(values))


def _notes(design: Design, fit: dict) -> tuple[str, ...]:
    out = list(design.glm.notes)
    if fit.get("separated"):
        out.append(f"possible perfect separation by {', '.join(fit['separated'])}: "
                   "those estimates are not meaningful")
    if fit["model"].integration.fell_back_to_laplace:
        out.append("adaptive quadrature is available for one level or nested levels of "
                   "random effects; this model with crossed levels was fitted by the "
                   "Laplace approximation")
    return tuple(out)
