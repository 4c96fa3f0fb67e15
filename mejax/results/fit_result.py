"""The one result type of every mixed model fitted by maximum likelihood or REML.

``mixed`` (the Gaussian identity preset, profiled) and the ``me*`` commands
(melogit, mepoisson, ..., any family and integrator) give a :class:`FitResult`.
Everything that differs between them is in the fit's report
(:class:`~mejax.fit.report.FitReport`: estimates, covariances, integration,
notes, made by :mod:`mejax.fit.lmm_report` or :mod:`mejax.fit.glmm_report`) and
in the family (title, extra parameters, Stata's reporting scale); predict,
margins, icc, ranef, tests, simulate, bootstrap and batch refits are written
once against it.
"""

from __future__ import annotations

from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import special  # scipy.stats costs 0.6 s of import time; special does not

from ..batch.api import fit_batch
from ..fit.report import FitReport, Uncertainty
from ..inference import blups  # noqa: F401 (registers the linear preset's Predictive)
from ..inference.bootstrap import bootstrap
from ..inference.dof import small_sample
from ..inference.effects import Predictive, predictive_for
from ..inference.fitted import FittedModel
from ..inference.hypothesis import contrast, estat_ic, lincom, pwcompare, test
from ..inference.icc import icc
from ..inference.margins import margins
from ..inference.predict import predict, ranef
from ..inference.simulate import simulate
from ..inference.stcurve import stcurve
from ..spec.design import Design
from ..spec.survey import SamplingUnits
from ..text import StataText, html_block
from .stata_table import render_iteration_log, render_summary
from .varcomp import on_boundary, residual_rows, term_rows, varcomp_frame

EFORM_LABELS = {"or": "Odds ratio", "irr": "IRR", "eform": "exp(b)", "hr": "Haz. ratio",
                "tr": "Time ratio"}


class FitResult(FittedModel):
    """Estimates, standard errors, tests and Stata-style output of a mixed model.

    Attributes are computed on first access from the fit's report, so a fit
    costs nothing for tables nobody looks at.
    """

    def __init__(self, design: Design, report: FitReport, level: float = 95.0,
                 options: dict | None = None):
        self.design = design
        self.report = report
        self._fit = report.outputs  # the driver's raw outputs (diagnostics: steps, ...)
        self.family = report.family
        self.model = report.model
        self.reml = report.reml
        self.level = float(level)
        self.options = dict(options or {})
        self.converged: bool = report.converged
        self.nobs: int = design.nobs
        self.n_dropped: int = design.n_dropped
        self.omitted: list[str] = list(design.omitted)

    # ---- what the fit reports ----------------------------------------------------------
    @property
    def method(self) -> str:
        """ML or REML; the integration method (Laplace, mvaghermite, ...) after me*."""
        return self.report.method

    @property
    def integration(self) -> str | None:
        """Integration method actually used (crossed models use Laplace; one adaptive node is
        the Laplace approximation); None for the profiled linear model."""
        return self.report.integration

    @property
    def nodes(self) -> int | None:
        return self.report.nodes

    @property
    def shows_integration(self) -> bool:
        """Stata's integration line: not for Gaussian outcomes, integrated exactly."""
        return self.report.shows_integration

    @property
    def title(self) -> str | None:
        return self.report.title

    @property
    def response_label(self) -> str:
        return self.report.response_label

    @property
    def preamble(self) -> tuple[str, ...]:
        return self.report.preamble

    @property
    def header_rows(self) -> tuple[tuple[str, str, str], ...]:
        return self.report.header_rows

    @property
    def loglik(self) -> float:
        """Log likelihood (restricted log likelihood under REML)."""
        return self.report.loglik

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    @property
    def sigma2(self) -> float:
        """σ²_e of the linear model; 1 (the latent scale boundary checks use) after me*."""
        return self.report.sigma2

    @property
    def params(self) -> np.ndarray:
        """All estimates on the optimisation scale: β, θ, then the residual or family ones."""
        return self.report.params.copy()

    @property
    def theta(self) -> np.ndarray:
        """Covariance parameters θ at the optimum (block order for the linear model)."""
        return self.report.theta.copy()

    @property
    def n_params(self) -> int:
        return self.report.n_params

    @cached_property
    def uncertainty(self) -> Uncertainty:
        """Covariances of the reported estimates (the fit's differences, computed once)."""
        return self.report.uncertainty()

    @property
    def observed_information(self) -> np.ndarray | None:
        """−∇² log L at the estimates, in all parameters (optimisation scale; after me*)."""
        return self.uncertainty.information

    @property
    def params_vcov(self) -> np.ndarray | None:
        """Variance of all parameters (optimisation scale, after me*): the inverse observed
        information, or the sandwich around it with vce(robust), vce(cluster) or svy."""
        return self.uncertainty.params_vcov

    # ---- weights and survey designs ---------------------------------------------------
    @property
    def sampling(self) -> SamplingUnits | None:
        """The PSUs, strata and fpc of a sandwich variance (None: observed information)."""
        return self.report.sampling

    @property
    def vce(self) -> str:
        """"oim", "robust", "cluster" or "linearized" (survey)."""
        return "oim" if self.sampling is None else self.sampling.kind

    @property
    def pseudo(self) -> bool:
        """Weighted or robust: a pseudo-likelihood, for which LR tests are not valid."""
        weights = self.report.weights
        return self.sampling is not None or (weights is not None and weights.any)

    @property
    def survey(self) -> bool:
        return self.vce == "linearized"

    @property
    def population(self) -> float | None:
        weights = self.report.weights
        return None if weights is None else weights.population

    # ---- fixed effects -------------------------------------------------------------------
    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self.report.beta, index=self.design.x_names, name="Coefficient")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Var(β̂); Kenward–Roger's adjusted Φ_A under ``dfmethod="kroger"``."""
        if self.small_sample is None:
            return self.vcov_unadjusted
        names = self.design.x_names
        return pd.DataFrame(self.small_sample.vcov, index=names, columns=names)

    @cached_property
    def vcov_unadjusted(self) -> pd.DataFrame:
        names = self.design.x_names
        return pd.DataFrame(self.report.fixef_vcov(), index=names, columns=names)

    @cached_property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.design.x_names,
                         name="Std. err.")

    @property
    def dfmethod(self) -> str | None:
        return self.options.get("dfmethod")

    @cached_property
    def small_sample(self):
        """df (and KR covariance) of the fixed effects, or None without a dfmethod
        (:mod:`mejax.inference.dof`; ``mixed`` only)."""
        if self.dfmethod is None:
            return None
        return small_sample(self.dfmethod, self.design, self.report.outputs)

    @cached_property
    def df(self) -> pd.Series | None:
        """Degrees of freedom of each coefficient's t statistic: the dfmethod's, or the
        design df under svy (None: large-sample z)."""
        if self.small_sample is not None:
            return pd.Series(self.small_sample.df, index=self.design.x_names, name="df")
        if self.survey:
            return pd.Series(float(self.sampling.design_df), index=self.design.x_names,
                             name="df")
        return None

    @property
    def eform(self) -> str | None:
        """Column label when coefficients are shown exponentiated (or, irr), else None."""
        return EFORM_LABELS.get(self.options.get("eform"))

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        """Coefficient (or its exponent), Std. err., z (t), P>|z| and the interval."""
        b, se = self.fixef, self.fixef_se
        z = b / se
        if self.df is not None:  # Student t with the dfmethod's degrees of freedom
            crit = special.stdtrit(self.df, 0.5 + self.level / 200)
            table = pd.DataFrame({
                "Coefficient": b, "Std. err.": se, "t": z, "P>|t|": 2 * special.stdtr(
                    self.df, -np.abs(z)), "ci_lower": b - crit * se, "ci_upper": b + crit * se,
            })
        else:
            table = pd.DataFrame({
                "Coefficient": b, "Std. err.": se, "z": z,
                "P>|z|": 2 * special.ndtr(-np.abs(z)), "ci_lower": b - self._z * se,
                "ci_upper": b + self._z * se,
            })
        if self.eform is None:
            return table
        exp_b = np.exp(table["Coefficient"])
        return pd.DataFrame({
            self.eform: exp_b, "Std. err.": exp_b * table["Std. err."], "z": table["z"],
            "P>|z|": table["P>|z|"], "ci_lower": np.exp(table["ci_lower"]),
            "ci_upper": np.exp(table["ci_upper"]),
        })

    # ---- the family's extra parameters ---------------------------------------------------
    @cached_property
    def aux(self) -> pd.DataFrame:
        """Extra parameters (/cut1 ..., /lnalpha, /ln_p) with SEs and CIs, then the family's
        transformed rows (Weibull p and 1/p, sigma): no test, log-scale intervals."""
        names = self.report.aux_names
        columns = ["Coefficient", "Std. err.", "z", "P>|z|", "ci_lower", "ci_upper"]
        if not names:  # none, or σ²_e: in varcomp
            return pd.DataFrame(columns=columns)
        u = self.uncertainty
        se = np.sqrt(np.maximum(np.diag(u.aux_cov), 0.0))
        est = u.aux
        z = est / se
        frame = pd.DataFrame({
            "Coefficient": est, "Std. err.": se, "z": z, "P>|z|": 2 * special.ndtr(-np.abs(z)),
            "ci_lower": est - self._z * se, "ci_upper": est + self._z * se,
        }, index=[f"/{n}" for n in names])
        derived = list(self.report.derived_aux_names)
        if not derived:
            return frame
        reported = jnp.asarray(est)
        d_est = np.asarray(self.family.derived_aux(reported))
        d_jac = np.asarray(jax.jacfwd(self.family.derived_aux)(reported))
        d_se = np.sqrt(np.maximum(np.diag(d_jac @ u.aux_cov @ d_jac.T), 0.0))
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

    # ---- random effects --------------------------------------------------------
    @cached_property
    def varcomp(self) -> pd.DataFrame:
        """Variance components on the variance/covariance scale with SEs and intervals.

        Intervals for variances are built on the log-sd scale and for
        covariances symmetrically, as Stata does; SEs by the delta method.
        """
        u = self.uncertainty
        rows = term_rows(self.design, self.report.order, u.entries, u.phi, u.entries_cov,
                         u.phi_cov, self._z)
        rows += residual_rows(u.residual, self._z, first_param=len(rows))
        return varcomp_frame(rows, self.sigma2)

    @property
    def boundary(self) -> bool:
        """True when a variance is zero or a correlation is ±1 at the optimum (read from
        the point estimates, so it costs no standard errors)."""
        return on_boundary(self.design, self.report.order, self.report.entries(), self.sigma2)

    @cached_property
    def groups(self) -> pd.DataFrame:
        """Per level: number of groups and observations per group (min, avg, max)."""
        rows = []
        for term in self.design.re_terms:
            c = term.counts
            rows.append({"group": term.label, "n_groups": term.n_levels, "min": int(c.min()),
                         "avg": float(c.mean()), "max": int(c.max())})
        res = self.design.residual
        if res is not None and res.group_label not in {r["group"] for r in rows}:
            c = np.bincount(res.codes, minlength=res.n_groups)
            rows.append({"group": res.group_label, "n_groups": res.n_groups, "min": int(c.min()),
                         "avg": float(c.mean()), "max": int(c.max())})
        return pd.DataFrame(rows)

    # ---- tests --------------------------------------------------------------------
    @cached_property
    def wald_test(self) -> dict:
        """Wald chi2 that all coefficients except the constant are zero; F(k, df) with a
        dfmethod; Stata's adjusted Wald F on the design df under svy."""
        names = [n for n in self.design.x_names if n not in ("_cons", "(Intercept)")]
        if not names:
            return {"chi2": np.nan, "df": 0, "p": np.nan}
        if self.small_sample is not None:  # F(k, df) as Stata with dfmethod()
            index = [self.design.x_names.index(n) for n in names]
            test = self.small_sample.f_test(self.fixef.to_numpy(), index)
            return {**test, "chi2": np.nan, "df": test["df1"]}
        b = self.fixef[names].to_numpy()
        v = self.vcov.loc[names, names].to_numpy()
        chi2 = float(b @ np.linalg.solve(v, b))
        k = len(names)
        if not self.survey:
            return {"chi2": chi2, "df": k, "p": float(special.chdtrc(k, chi2))}
        d = float(self.sampling.design_df)
        df2 = d - k + 1
        f = chi2 * df2 / (d * k) if df2 > 0 else np.nan
        p = float(special.fdtrc(k, df2, f)) if df2 > 0 else np.nan
        return {"chi2": np.nan, "df": k, "F": f, "df1": k, "df2": df2, "p": p}

    @property
    def wald_chi2(self) -> float:
        return self.wald_test["chi2"]

    @property
    def wald_p(self) -> float:
        return self.wald_test["p"]

    @cached_property
    def linear_loglik(self) -> float:
        """Log likelihood of the model without random effects (same ML/REML)."""
        return self.report.base_loglik()

    @cached_property
    def lr_test(self) -> dict | None:
        """LR test against the model without random effects; chibar2(01) for a single
        variance; None for pseudo-likelihoods."""
        if self.pseudo:
            return None
        df = self.report.lr_df
        stat = max(2 * (self.loglik - self.linear_loglik), 0.0)
        versus = {} if self.report.lr_versus is None else {"versus": self.report.lr_versus}
        if df == 1:
            return {"kind": "chibar2(01)", "chi2": stat, "df": 1,
                    "p": 0.5 * float(special.chdtrc(1, stat)) if stat > 0 else 1.0,
                    "conservative": False, **versus}
        return {"kind": f"chi2({df})", "chi2": stat, "df": df,
                "p": float(special.chdtrc(df, stat)), "conservative": True, **versus}

    # ---- Wald tests and margins (mejax.inference.hypothesis / .margins) ----------------
    def test(self, hypothesis: str):
        """Stata's ``test``: Wald chi2 (F with dfmethod) of linear constraints on β."""
        return test(self, hypothesis)

    def lincom(self, expression: str, level: float | None = None):
        """Stata's ``lincom``: a linear combination of β with SE, z (t), p and CI."""
        return lincom(self, expression, level)

    def contrast(self, term: str):
        """Stata's ``contrast``: joint test of a factor term (asbalanced margins)."""
        return contrast(self, term)

    def pwcompare(self, term: str, level: float | None = None):
        """Stata's ``pwcompare``: unadjusted pairwise differences of a factor's margins."""
        return pwcompare(self, term, level)

    def margins(self, spec: str = "", at=None, dydx=None, level: float | None = None,
                predict: str | None = None):
        """Stata's ``margins``: predictive margins / marginal effects, delta-method SEs
        (after me* by default of the marginal, population-averaged mean)."""
        return margins(self, spec, at=at, dydx=dydx, level=level, predict=predict)

    def marginsplot(self, spec: str = "", at=None, dydx=None, level: float | None = None,
                    ax=None, *, noci: bool = False, title: str | None = None,
                    xtitle: str | None = None, ytitle: str | None = None,
                    recast: str | None = None, saving: str | None = None,
                    replace: bool = False, **margins_options):
        """``margins`` then Stata's ``marginsplot``: a pyplot Figure of the margins and CIs.

        ``spec``, ``at``, ``dydx``, ``level`` (and e.g. ``predict=`` after a GLMM) go
        to :meth:`margins`; the keywords are Stata's graph options.
        """
        result = self.margins(spec, at=at, dydx=dydx, level=level, **margins_options)
        return result.plot(ax, noci=noci, title=title, xtitle=xtitle, ytitle=ytitle,
                           recast=recast, saving=saving, replace=replace)

    def estat_ic(self):
        """Stata's ``estat ic``: N, ll(model), df, AIC and BIC."""
        return estat_ic(self)

    @property
    def notes(self) -> list[str]:
        out = list(self.report.notes)
        if self.n_dropped:
            out.append(f"{self.n_dropped} observation(s) with missing values dropped")
        for name in self.omitted:
            out.append(f"{name} omitted because of collinearity")
        if not self.converged:
            out.append("convergence not achieved")
        if self.boundary:
            out.append("a variance component is on the boundary of the parameter space "
                       "(zero variance or perfect correlation); its standard error is not reported")
        return out

    # ---- prediction and ICC (mejax.inference.predict / .icc), one for every model ------
    def ranef(self, se: bool = True, ebmodes: bool = False, nodes: int | None = None,
              se_type: str | None = None) -> dict[str, pd.DataFrame]:
        """Predicted random effects by group label (levels × effects, plus ``se_<effect>``).

        After ``mixed`` the BLUPs with ``se_type`` "conditional", "comparative" or
        "stata"; after me* the empirical Bayes means (Stata's default) or ``ebmodes``.
        """
        return ranef(self, se=se, ebmodes=ebmodes, nodes=nodes, se_type=se_type)

    def predict(self, kind: str | None = None, data: pd.DataFrame | None = None,
                conditional: str = "ebmeans", marginal: bool = False, outcome=None,
                nodes: int | None = None, bounds=None):
        """Stata's ``predict``. After ``mixed``: xb (default), fitted, residuals,
        rstandard, reffects, reses or stdp. After me*: mu (default), pr, eta, xb, stdp,
        reffects, reses, ...; after metobit/meintreg pr, e, ystar on ``bounds=(a, b)``;
        after mestreg median, mean_time, surv, hazard, cumhaz, density."""
        return predict(self, kind=kind, data=data, conditional=conditional, marginal=marginal,
                       outcome=outcome, nodes=nodes, bounds=bounds)

    def icc(self) -> pd.DataFrame:
        """Stata's ``estat icc``: intraclass correlations with delta-method SEs (latent
        scale after logit, probit, tobit and interval models)."""
        return icc(self)

    @cached_property
    def predictive(self) -> Predictive:
        """What predict, margins and icc ask of this fit: the linear model's BLUPs and σ_e,
        or a GLMM's empirical Bayes effects, family and estimates."""
        return predictive_for(self)

    def stcurve(self, kind: str = "survival", at=None, times=None, ax=None, **options):
        """Stata's ``stcurve`` after mestreg: marginal survival, hazard or cumhaz curves.

        ``options``: Stata's graph options (``title``, ``xtitle``, ``ytitle``,
        ``recast``, ``saving``, ``replace``); returns a pyplot Figure.
        """
        return stcurve(self, kind, at, times, ax, **options)

    # ---- simulation, bootstrap, batch refits (mejax.batch / inference.bootstrap) -----
    def simulate(self, n: int = 1, seed=None) -> np.ndarray:
        """(n, nobs) responses drawn from the fitted model: new random effects and residuals."""
        return simulate(self, n, seed)

    def bootstrap(self, n: int = 1000, seed=None, **options):
        """Parametric bootstrap: ``n`` simulated replicates refitted in batch, percentile CIs."""
        return bootstrap(self, n, seed, **options)

    def refit_batch(self, responses, **options):
        """Refit this model to every row of ``responses`` (B × nobs) in compiled batches."""
        return fit_batch(self, responses, **options)

    # ---- output ---------------------------------------------------------------------
    @property
    def iterations(self) -> list[float]:
        """The (restricted) log likelihood at each accepted iteration of the optimiser."""
        return list(self.report.iterations)

    def iteration_log(self) -> StataText:
        """Stata's iteration log (``Iteration 0:  Log likelihood = ...``).

        Stata command lines print it above the table, as Stata does (``nolog``
        hides it); formula fits print it only when asked for with this method.
        """
        return StataText(render_iteration_log(self))

    def summary(self, log: bool | None = None) -> StataText:
        """Stata's output: header, coefficient table, random effects, LR test.

        ``log``: the iteration log above it (default: as Stata, for Stata command lines
        without ``nolog``; a replay, ``log=False``, shows the tables only).
        """
        return StataText(render_summary(self, log))

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (f"<{self.report.name} {self.report.description} nobs={self.nobs} "
                f"loglik={self.loglik:.5f} converged={self.converged}>")

    def _repr_html_(self) -> str:
        """Jupyter's view: Stata's table, the very text of ``summary()``."""
        return html_block(self.summary())

    def to_frame(self) -> pd.DataFrame:
        """All estimates in one long table: fixed effects, variance components, then the
        family's extra parameters."""
        fe = self.coef_table.reset_index(names="term")
        fe.insert(0, "part", "fixed")
        fe = fe.rename(columns={"Coefficient": "estimate", "Std. err.": "std_err", "z": "z",
                                "P>|z|": "p_value", "t": "z", "P>|t|": "p_value"})
        vc = self.varcomp.copy()
        vc.insert(0, "part", "random")
        vc["term"] = vc["label"]
        cols = ["part", "group", "term", "estimate", "std_err", "z", "p_value",
                "ci_lower", "ci_upper"]
        frame = pd.concat([fe, vc], ignore_index=True).reindex(columns=cols)
        if self.aux.empty:
            return frame
        aux = self.aux.reset_index(names="term").rename(columns={
            "Coefficient": "estimate", "Std. err.": "std_err", "P>|z|": "p_value"})
        aux.insert(0, "part", "aux")
        return pd.concat([frame, aux.reindex(columns=frame.columns)], ignore_index=True)
