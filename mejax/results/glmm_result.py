"""The result of a generalized linear mixed-model fit (melogit, mepoisson, ...).

It shares the linear model's result type — coefficient table, variance
components, Wald tests, margins, Stata-style output — and adds what GLMMs
have: the integration method, exponentiated coefficients (``or``, ``irr``),
ordinal cutpoints or negative-binomial dispersion, and the LR test against
the model without random effects. Standard errors come from the inverse of
the observed information (the autodiff Hessian of the marginal log
likelihood in β, θ and the extra parameters), by the delta method.
"""

from __future__ import annotations

from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import special

from ..batch.glmm import GlmmKind
from ..batch.kinds import register_kind
from ..inference import eb_effects
from ..inference.effects import Predictive
from ..inference.sandwich import sandwich
from ..inference.stcurve import stcurve
from ..linalg.scaling import scaled_inverse
from ..spec.survey import SamplingUnits
from .mixed_result import BOUNDARY_RELATIVE, MixedResult, component_row

METHOD_NAMES = {"laplace": "Laplace", "mvaghq": "mvaghermite", "mcaghq": "mcaghermite",
                "ghq": "ghermite"}
EFORM_LABELS = {"or": "Odds ratio", "irr": "IRR", "eform": "exp(b)", "hr": "Haz. ratio",
                "tr": "Time ratio"}


class GlmmResult(MixedResult):
    """Estimates and Stata-style output of a GLMM."""

    def __init__(self, design, fit: dict, level: float = 95.0, options: dict | None = None):
        super().__init__(design, fit, False, level, options)
        self.family = design.glm.family
        self.model = fit["model"]

    # ---- basic quantities -------------------------------------------------------------
    @property
    def method(self) -> str:
        return METHOD_NAMES[self.integration]

    @property
    def integration(self) -> str:
        """Integration method actually used (crossed models use Laplace; one adaptive node is
        the Laplace approximation)."""
        return self.model.integration.used

    @property
    def shows_integration(self) -> bool:
        """Stata's integration line: not for Gaussian outcomes, integrated exactly."""
        return not self.family.exact_laplace

    @property
    def nodes(self) -> int:
        return self.model.integration.used_nodes

    @property
    def title(self) -> str:
        return self.family.title

    @property
    def loglik(self) -> float:
        return float(self._fit["loglik"])

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    @property
    def sigma2(self) -> float:
        return 1.0  # the latent scale: boundary checks are relative to it

    @property
    def params(self) -> np.ndarray:
        """All estimates on the optimisation scale: β, θ, then the extra parameters."""
        return self._fit["params"].copy()

    @property
    def theta(self) -> np.ndarray:
        p = self.model.p
        return self._fit["params"][p : p + self.model.n_theta()].copy()

    @property
    def n_params(self) -> int:
        return len(self._fit["params"])

    @cached_property
    def _inference(self):
        """(observed information, Jacobians and values of the reported parameters)."""
        info, jacs, values = self._fit["inference"]()
        return info, jacs, values

    @property
    def observed_information(self) -> np.ndarray:
        """−∇² log L at the estimates, in all parameters (optimisation scale)."""
        return self._inference[0]

    @cached_property
    def _information(self):
        info, jacs, values = self._inference
        try:
            cov = np.asarray(scaled_inverse(info))
            if not np.all(np.isfinite(cov)):
                raise np.linalg.LinAlgError("singular information")
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(info)
        if self.sampling is not None:
            cov = sandwich(cov, self._fit["cluster_scores"](), self.sampling)
        return cov, jacs, values

    @property
    def params_vcov(self) -> np.ndarray:
        """Variance of all parameters (optimisation scale): the inverse observed
        information, or the sandwich around it with vce(robust), vce(cluster) or svy."""
        return self._information[0]

    # ---- weights and survey designs ---------------------------------------------------
    @property
    def sampling(self) -> SamplingUnits | None:
        """The PSUs, strata and fpc of a sandwich variance (None: observed information)."""
        return self._fit.get("sampling")

    @property
    def vce(self) -> str:
        """"oim", "robust", "cluster" or "linearized" (survey)."""
        return "oim" if self.sampling is None else self.sampling.kind

    @property
    def pseudo(self) -> bool:
        """Weighted or robust: a pseudo-likelihood, for which LR tests are not valid."""
        weights = self._fit.get("weights")
        return self.sampling is not None or (weights is not None and weights.any)

    @property
    def survey(self) -> bool:
        return self.vce == "linearized"

    @property
    def population(self) -> float | None:
        weights = self._fit.get("weights")
        return None if weights is None else weights.population

    @cached_property
    def df(self) -> pd.Series | None:
        """The design degrees of freedom of every coefficient under svy (t tests)."""
        if not self.survey:
            return None
        return pd.Series(float(self.sampling.design_df), index=self.design.x_names, name="df")

    @cached_property
    def wald_test(self) -> dict:
        """Wald chi2 of all coefficients but the constant; svy: Stata's adjusted Wald F."""
        test = super().wald_test
        if not self.survey or not test["df"]:
            return test
        k, d, chi2 = test["df"], float(self.sampling.design_df), test["chi2"]
        df2 = d - k + 1
        f = chi2 * df2 / (d * k) if df2 > 0 else np.nan
        p = float(special.fdtrc(k, df2, f)) if df2 > 0 else np.nan
        return {"chi2": np.nan, "df": k, "F": f, "df1": k, "df2": df2, "p": p}

    @cached_property
    def vcov_unadjusted(self) -> pd.DataFrame:
        p, names = self.model.p, self.design.x_names
        return pd.DataFrame(self.params_vcov[:p, :p], index=names, columns=names)

    @property
    def small_sample(self):
        return None

    @property
    def dfmethod(self):
        return None

    # ---- coefficients -----------------------------------------------------------------------
    @property
    def response_label(self) -> str:
        return self.family.response_label(self.design.response)

    @property
    def preamble(self) -> list[str]:
        return self.family.preamble()

    @property
    def header_rows(self) -> list[tuple[str, str, str]]:
        return self.family.header_rows({**self.design.glm.given, **self.design.glm.data})

    @property
    def eform(self) -> str | None:
        """Column label when coefficients are shown exponentiated (or, irr), else None."""
        return EFORM_LABELS.get(self.options.get("eform"))

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        table = super().coef_table
        if self.eform is None:
            return table
        exp_b = np.exp(table["Coefficient"])
        return pd.DataFrame({
            self.eform: exp_b, "Std. err.": exp_b * table["Std. err."], "z": table["z"],
            "P>|z|": table["P>|z|"], "ci_lower": np.exp(table["ci_lower"]),
            "ci_upper": np.exp(table["ci_upper"]),
        })

    @cached_property
    def aux(self) -> pd.DataFrame:
        """Extra parameters (/cut1 ..., /lnalpha, /ln_p) with SEs and CIs, then the family's
        transformed rows (Weibull p and 1/p, sigma): no test, log-scale intervals."""
        names = self.family.aux_names(self.model.n_categories)
        columns = ["Coefficient", "Std. err.", "z", "P>|z|", "ci_lower", "ci_upper"]
        if not names or self.family.residual_variance_aux:  # σ²_e: in varcomp
            return pd.DataFrame(columns=columns)
        cov, jacs, values = self._information
        jac = jacs[2]
        aux_cov = jac @ cov @ jac.T
        se = np.sqrt(np.maximum(np.diag(aux_cov), 0.0))
        est = values[2]
        z = est / se
        frame = pd.DataFrame({
            "Coefficient": est, "Std. err.": se, "z": z, "P>|z|": 2 * special.ndtr(-np.abs(z)),
            "ci_lower": est - self._z * se, "ci_upper": est + self._z * se,
        }, index=[f"/{n}" for n in names])
        derived = self.family.derived_aux_names(self.design.response, self.model.n_categories)
        if not derived:
            return frame
        reported = jnp.asarray(est)
        d_est = np.asarray(self.family.derived_aux(reported))
        d_jac = np.asarray(jax.jacfwd(self.family.derived_aux)(reported))
        d_se = np.sqrt(np.maximum(np.diag(d_jac @ aux_cov @ d_jac.T), 0.0))
        log_se = d_se / d_est  # intervals on the log scale, as Stata's
        rows = pd.DataFrame({
            "Coefficient": d_est, "Std. err.": d_se, "z": np.nan, "P>|z|": np.nan,
            "ci_lower": d_est * np.exp(-self._z * log_se),
            "ci_upper": d_est * np.exp(self._z * log_se)}, index=derived)
        return pd.concat([frame, rows])

    @property
    def cutpoints(self) -> pd.Series:
        """Ordinal cutpoints on Stata's scale (P(y ≤ k) = F(cut_k − xβ − Zb))."""
        if not self.family.has_cutpoints:
            raise AttributeError("cutpoints exist for ordinal models only")
        return self.aux["Coefficient"].rename(lambda s: s.lstrip("/"))

    @property
    def dispersion(self) -> float:
        """α (mean dispersion) or δ (constant dispersion) of a negative binomial model."""
        value = self.family.dispersion_value(self.aux["Coefficient"].to_numpy())
        if value is None:
            raise AttributeError("dispersion exists for negative binomial models only")
        return value

    # ---- random effects ----------------------------------------------------------------------
    @cached_property
    def varcomp(self) -> pd.DataFrame:
        cov, jacs, values = self._information
        entries_cov = jacs[0] @ cov @ jacs[0].T
        phi_cov = jacs[1] @ cov @ jacs[1].T
        rows = self._random_effect_rows(values[0], values[1], entries_cov, phi_cov)
        if self.family.residual_variance_aux:  # Gaussian: σ²_e = exp(2 ln σ_e)
            var = float(values[2][0])
            aux_cov = jacs[2] @ cov @ jacs[2].T
            se = float(np.sqrt(max(aux_cov[0, 0], 0.0)))
            row = component_row("Residual", [None], "", 0, 0, var, se,
                                0.5 * np.log(var), se / (2 * var), self._z, 0)
            rows.append({**row, "label": self.family.residual_label(self.design.response)})
        return self._varcomp_frame(rows)

    @property
    def boundary(self) -> bool:
        self._fit.setdefault("entries", self._information[2][0])
        return super().boundary

    def _boundary_mask(self, frame: pd.DataFrame) -> np.ndarray:
        is_var = frame["var2"].isna().to_numpy()
        unit = frame["unit"].fillna(1.0).to_numpy() if "unit" in frame else 1.0
        return is_var & (frame["estimate"].abs().to_numpy() * unit <= BOUNDARY_RELATIVE)

    # ---- tests ----------------------------------------------------------------------------
    @property
    def linear_loglik(self) -> float:
        """Log likelihood of the model without random effects."""
        return float(self._fit["base_loglik"])

    @cached_property
    def lr_test(self) -> dict | None:
        """LR test against the model without random effects; None for pseudo-likelihoods."""
        if self.pseudo:
            return None
        df = self.model.n_theta()
        stat = max(2 * (self.loglik - self.linear_loglik), 0.0)
        if df == 1:
            return {"kind": "chibar2(01)", "chi2": stat, "df": 1,
                    "p": 0.5 * float(special.chdtrc(1, stat)) if stat > 0 else 1.0,
                    "conservative": False, "versus": self.family.base_model}
        return {"kind": f"chi2({df})", "chi2": stat, "df": df,
                "p": float(special.chdtrc(df, stat)), "conservative": True,
                "versus": self.family.base_model}

    @property
    def notes(self) -> list[str]:
        out = list(self.design.glm.notes)
        if self._fit.get("separated"):
            out.append(f"possible perfect separation by {', '.join(self._fit['separated'])}: "
                       "those estimates are not meaningful")
        if self.model.integration.fell_back_to_laplace:
            out.append("adaptive quadrature is available for one level or nested levels of "
                       "random effects; this model with crossed levels was fitted by the "
                       "Laplace approximation")
        return out + super().notes

    def __repr__(self) -> str:
        return (f"<GlmmResult {self.title} ({self.method}) nobs={self.nobs} "
                f"loglik={self.loglik:.5f} converged={self.converged}>")

    def to_frame(self) -> pd.DataFrame:
        frame = super().to_frame()
        if self.aux.empty:
            return frame
        aux = self.aux.reset_index(names="term").rename(columns={
            "Coefficient": "estimate", "Std. err.": "std_err", "P>|z|": "p_value"})
        aux.insert(0, "part", "aux")
        return pd.concat([frame, aux.reindex(columns=frame.columns)], ignore_index=True)

    @cached_property
    def predictive(self) -> Predictive:
        """What predict, margins and icc ask of this fit (empirical Bayes effects, the
        family and all estimates)."""
        return eb_effects.GlmmPredictive(self)

    def stcurve(self, kind: str = "survival", at=None, times=None, ax=None, **options):
        """Stata's ``stcurve`` after mestreg: marginal survival, hazard or cumhaz curves.

        ``options``: Stata's graph options (``title``, ``xtitle``, ``ytitle``,
        ``recast``, ``saving``, ``replace``); returns a pyplot Figure.
        """
        return stcurve(self, kind, at, times, ax, **options)


register_kind(GlmmResult, GlmmKind())
