"""The result of a linear mixed-model fit, shared by both front ends."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special  # scipy.stats costs 0.6 s of import time; special does not

from ..batch.api import fit_batch
from ..batch.kinds import register_kind
from ..batch.lmm import LmmKind
from ..cov.labels import component_label
from ..inference import blups
from ..inference.bootstrap import bootstrap
from ..inference.dof import small_sample
from ..inference.effects import Predictive
from ..inference.fitted import FittedModel
from ..inference.hypothesis import contrast, estat_ic, lincom, pwcompare, test
from ..inference.icc import icc
from ..inference.margins import margins
from ..inference.predict import predict, ranef
from ..inference.simulate import simulate
from ..linalg.scaling import column_scales
from ..spec.design import Design
from ..text import StataText, html_block
from .stata_table import render_iteration_log, render_summary

BOUNDARY_RELATIVE = 1e-6


class MixedResult(FittedModel):
    """Estimates, standard errors, tests and Stata-style output of ``mixed``.

    Attributes are computed on first access from the arrays the compiled fit
    returned, so a fit costs nothing for tables nobody looks at.
    """


    # what only some models have (GLMMs override them): Stata's title, the integration
    # method, the exponentiated-coefficient label and the family's extra parameters
    title: str | None = None
    integration: str | None = None
    eform: str | None = None
    aux: pd.DataFrame | None = None
    # weighted and sandwich-variance fits (GLMMs with weights, vce() or svy) override these
    vce: str = "oim"
    shows_integration: bool = False
    pseudo: bool = False
    survey: bool = False
    sampling = None
    population: float | None = None
    preamble: tuple[str, ...] = ()  # lines above the title (survival's stset settings)
    header_rows: tuple[tuple[str, str, str], ...] = ()  # lines under Number of obs

    def __init__(self, design: Design, fit: dict, reml: bool, level: float = 95.0,
                 options: dict | None = None):
        self.design = design
        self._fit = fit
        self.reml = bool(reml)
        self.level = float(level)
        self.options = dict(options or {})
        self.converged: bool = fit["converged"]
        self.nobs: int = design.nobs
        self.n_dropped: int = design.n_dropped
        self.omitted: list[str] = list(design.omitted)

    # ---- basic quantities -----------------------------------------------------
    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    @property
    def loglik(self) -> float:
        """Log likelihood (restricted log likelihood under REML)."""
        return -0.5 * float(self._fit["deviance"])

    @property
    def deviance(self) -> float:
        return float(self._fit["deviance"])

    @property
    def sigma2(self) -> float:
        return float(self._fit["sigma2"])

    @property
    def theta(self) -> np.ndarray:
        """Relative Cholesky parameters θ at the optimum, in block order."""
        return self._fit["theta"].copy()

    @property
    def n_params(self) -> int:
        return len(self.fixef) + len(self._fit["phi"])

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self.n_params

    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self._fit["beta"], index=self.design.x_names, name="Coefficient")

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
        return pd.DataFrame(self._fit["vcov"], index=names, columns=names)

    @cached_property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.design.x_names,
                         name="Std. err.")

    # ---- small-sample degrees of freedom (mejax.inference.dof) ----------------------
    @property
    def dfmethod(self) -> str | None:
        return self.options.get("dfmethod")

    @cached_property
    def small_sample(self):
        """df (and KR covariance) of the fixed effects, or None without a dfmethod."""
        if self.dfmethod is None:
            return None

        return small_sample(self.dfmethod, self.design, self._fit)

    @cached_property
    def df(self) -> pd.Series | None:
        """Degrees of freedom of each coefficient's t statistic (None: large-sample z)."""
        if self.small_sample is None:
            return None
        return pd.Series(self.small_sample.df, index=self.design.x_names, name="df")

    @property
    def _z(self) -> float:
        return float(special.ndtri(0.5 + self.level / 200))

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        """Coefficient, Std. err., z, P>|z| and the confidence interval."""
        b, se = self.fixef, self.fixef_se
        z = b / se
        if self.df is not None:  # Student t with the dfmethod's degrees of freedom
            crit = special.stdtrit(self.df, 0.5 + self.level / 200)
            return pd.DataFrame({
                "Coefficient": b, "Std. err.": se, "t": z, "P>|t|": 2 * special.stdtr(
                    self.df, -np.abs(z)), "ci_lower": b - crit * se, "ci_upper": b + crit * se,
            })
        lo, hi = b - self._z * se, b + self._z * se
        return pd.DataFrame({
            "Coefficient": b, "Std. err.": se, "z": z,
            "P>|z|": 2 * special.ndtr(-np.abs(z)), "ci_lower": lo, "ci_upper": hi,
        })

    # ---- random effects --------------------------------------------------------
    @cached_property
    def varcomp(self) -> pd.DataFrame:
        """Variance components on the variance/covariance scale with SEs and intervals.

        Intervals for variances are built on the log-sd scale and for
        covariances symmetrically, as Stata does; SEs come from the autodiff
        Hessian of the log likelihood by the delta method.
        """
        entries, phi = self._fit["entries"], self._fit["phi"]
        entries_cov, phi_cov = self._fit["inference"]()
        z = self._z
        ordered = self._random_effect_rows(entries, phi, entries_cov, phi_cov)
        e_index = sum(len(self.design.re_terms[t].structure.entries()) for t in self._fit["order"])
        phi_index = sum(self.design.re_terms[t].structure.n_phi() for t in self._fit["order"])
        residual = self._fit["model"].residual
        if residual is None:
            se_res = float(np.sqrt(max(entries_cov[-1, -1], 0.0)))
            ordered.append(component_row(
                "Residual", [None], "", 0, 0, float(entries[-1]), se_res, phi[-1],
                np.sqrt(max(phi_cov[-1, -1], 0.0)), z, 0,
            ))
        else:
            n_terms = len(ordered)
            names = residual.parameter_names()
            for n in range(len(entries) - e_index):
                by = residual.by_labels[n // len(names)] if residual.n_by > 1 else None
                name, scale = names[n % len(names)]
                e, f = e_index + n, phi_index + n
                ordered.append(_residual_row(
                    residual.title(), by, name, scale, float(entries[e]),
                    np.sqrt(max(entries_cov[e, e], 0.0)), phi[f],
                    np.sqrt(max(phi_cov[f, f], 0.0)), z, param=n_terms + n,
                ))
        return self._varcomp_frame(ordered)

    def _varcomp_frame(self, rows: list[dict]) -> pd.DataFrame:
        """The varcomp table with boundary variances shown as 0 without SEs."""
        frame = pd.DataFrame(rows)
        boundary = self._boundary_mask(frame)
        frame = frame.drop(columns="unit", errors="ignore")
        frame.loc[boundary, ["std_err", "ci_lower", "ci_upper", "sd_or_corr_se",
                             "sd_or_corr_lower", "sd_or_corr_upper"]] = np.nan
        frame.loc[boundary, ["estimate", "sd_or_corr"]] = 0.0
        return frame

    def _random_effect_rows(self, entries, phi, entries_cov, phi_cov) -> list[dict]:
        """varcomp rows of the random-effect terms, in design order."""
        z = self._z
        rows_by_term: dict[int, list[dict]] = {}
        e_index = phi_index = 0
        for term_i in self._fit["order"]:
            term = self.design.re_terms[term_i]
            struct = term.structure
            units = column_scales(term.z) ** 2
            rows = []
            for (i, j), param in zip(struct.entries(), struct.entry_param()):
                est = float(entries[e_index])
                se = float(np.sqrt(max(entries_cov[e_index, e_index], 0.0)))
                p_idx = phi_index + param
                rows.append(component_row(
                    term.label, term.effect_names, struct.label, i, j, est, se,
                    phi[p_idx], np.sqrt(max(phi_cov[p_idx, p_idx], 0.0)), z, param,
                ) | {"unit": units[i] if i == j else np.nan})
                e_index += 1
            phi_index += struct.n_phi()
            rows_by_term[term_i] = rows
        return [r for t in range(len(self.design.re_terms)) for r in rows_by_term[t]]

    def _boundary_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Variances that are zero in the units of their column (var · RMS(z)²)."""
        is_var = frame["var2"].isna() & (frame["group"] != "Residual")
        unit = frame["unit"].fillna(1.0) if "unit" in frame else 1.0
        tiny = frame["estimate"].abs() * unit <= BOUNDARY_RELATIVE * self.sigma2
        return (is_var & tiny).to_numpy()

    @property
    def boundary(self) -> bool:
        """True when a variance is zero or a correlation is ±1 at the optimum.

        Read from the point estimates, so it costs no standard errors. A
        variance is zero when its effect's share of the predictor's variance,
        var · RMS(z)², is below 1e-6·σ²: the same verdict whatever the units of z.
        """
        entries = self._fit["entries"]
        start = 0
        for term_i in self._fit["order"]:
            term = self.design.re_terms[term_i]
            struct = term.structure
            units = column_scales(term.z) ** 2
            values = dict(zip(struct.entries(), entries[start:]))
            start += len(struct.entries())
            for (i, j), value in values.items():
                if i == j and value * units[i] <= BOUNDARY_RELATIVE * self.sigma2:
                    return True
                if i != j:
                    denom = np.sqrt(values[(i, i)] * values[(j, j)])
                    if denom > 0 and abs(value) / denom > 1 - 1e-6:
                        return True
        return False

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
        """Wald chi2 that all coefficients except the constant are zero."""
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
        return {"chi2": chi2, "df": len(names), "p": float(special.chdtrc(len(names), chi2))}

    @property
    def wald_chi2(self) -> float:
        return self.wald_test["chi2"]

    @property
    def wald_p(self) -> float:
        return self.wald_test["p"]

    @cached_property
    def linear_loglik(self) -> float:
        """Log likelihood of the model without random effects (same ML/REML)."""
        x, y = self.design.x, self.design.y
        n, p = x.shape
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        rss = float(np.sum((y - x @ beta) ** 2))
        if not self.reml:
            return -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
        logdet_xtx = np.linalg.slogdet(x.T @ x)[1]
        return -0.5 * ((n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1) + logdet_xtx)

    @cached_property
    def lr_test(self) -> dict:
        """LR test against the linear model; chibar2(01) for a single variance."""
        df = len(self._fit["phi"]) - 1
        stat = max(2 * (self.loglik - self.linear_loglik), 0.0)
        if df == 1:
            return {"kind": "chibar2(01)", "chi2": stat, "df": 1,
                    "p": 0.5 * float(special.chdtrc(1, stat)) if stat > 0 else 1.0,
                    "conservative": False}
        return {"kind": f"chi2({df})", "chi2": stat, "df": df,
                "p": float(special.chdtrc(df, stat)), "conservative": True}

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
        out = []
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
        """What predict, margins and icc ask of this fit (BLUPs, σ_e, residual structure)."""
        return blups.LinearPredictive(self)

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
        return list(self._fit.get("iterations", []))

    def iteration_log(self) -> StataText:
        """Stata's iteration log (``Iteration 0:  Log likelihood = ...``).

        Stata command lines print it above the table, as Stata does (``nolog``
        hides it); formula fits print it only when asked for with this method.
        """
        return StataText(render_iteration_log(self))

    def summary(self, log: bool | None = None) -> StataText:
        """Stata's ``mixed`` output: header, coefficient table, random effects, LR test.

        ``log``: the iteration log above it (default: as Stata, for Stata command lines
        without ``nolog``; a replay, ``log=False``, shows the tables only).
        """
        return StataText(render_summary(self, log))

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (f"<MixedResult {self.method} nobs={self.nobs} loglik={self.loglik:.5f} "
                f"converged={self.converged}>")

    def _repr_html_(self) -> str:
        """Jupyter's view: Stata's table, the very text of ``summary()``."""
        return html_block(self.summary())

    def to_frame(self) -> pd.DataFrame:
        """All estimates in one long table: fixed effects then variance components."""
        fe = self.coef_table.reset_index(names="term")
        fe.insert(0, "part", "fixed")
        fe = fe.rename(columns={"Coefficient": "estimate", "Std. err.": "std_err", "z": "z",
                                "P>|z|": "p_value", "t": "z", "P>|t|": "p_value"})
        vc = self.varcomp.copy()
        vc.insert(0, "part", "random")
        vc["term"] = vc["label"]
        cols = ["part", "group", "term", "estimate", "std_err", "z", "p_value",
                "ci_lower", "ci_upper"]
        return pd.concat([fe, vc], ignore_index=True).reindex(columns=cols)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _residual_row(title, by, name, scale, est, se, phi_est, phi_se, z, param):
    """One residual-structure row; the interval is built on the parameter's own scale."""
    lo_phi, hi_phi = phi_est - z * phi_se, phi_est + z * phi_se
    if scale == "log":
        lo, hi = np.exp(2 * lo_phi), np.exp(2 * hi_phi)
    elif scale == "atanh":
        lo, hi = np.tanh(lo_phi), np.tanh(hi_phi)
    elif scale == "logit":
        lo, hi = special.expit(lo_phi), special.expit(hi_phi)
    else:
        lo, hi = est - z * se, est + z * se
    is_var = name == "var(e)" or name.startswith("var(")
    sd, sd_se = (np.sqrt(est), np.sqrt(est) * phi_se) if is_var else (est, se)
    sd_lo, sd_hi = (np.sqrt(lo), np.sqrt(hi)) if is_var else (lo, hi)
    plain_var = name == "var(e)" and by is None
    return {
        "group": "Residual", "var1": None if plain_var else name, "var2": None,
        "estimate": est, "std_err": se, "ci_lower": float(lo), "ci_upper": float(hi),
        "label": name if by is None else f"{by}: {name}", "structure": title,
        "param": param, "correlation": np.nan if is_var else est, "by": by,
        "sd_or_corr": float(sd), "sd_or_corr_se": float(sd_se),
        "sd_or_corr_lower": float(sd_lo), "sd_or_corr_upper": float(sd_hi),
    }


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def component_row(group, names, structure, i, j, est, se, phi_est, phi_se, z, param):
    """One varcomp row with its Stata label and interval (boundary values give inf/nan)."""
    is_var = i == j
    label, var1, var2 = component_label(group, names, structure, i, j)
    if is_var:
        lo, hi = np.exp(2 * (phi_est - z * phi_se)), np.exp(2 * (phi_est + z * phi_se))
        corr = np.nan
        sd, sd_se = np.sqrt(est), np.sqrt(est) * phi_se
        sd_lo, sd_hi = np.sqrt(lo), np.sqrt(hi)
    else:
        lo, hi = est - z * se, est + z * se
        corr = float(np.tanh(phi_est))
        sd, sd_se = corr, (1 - corr**2) * phi_se
        sd_lo, sd_hi = np.tanh(phi_est - z * phi_se), np.tanh(phi_est + z * phi_se)
    return {
        "group": group, "var1": var1, "var2": var2, "estimate": est, "std_err": se,
        "ci_lower": float(lo), "ci_upper": float(hi), "label": label,
        "structure": structure, "param": param, "correlation": corr,
        "sd_or_corr": float(sd), "sd_or_corr_se": float(sd_se),
        "sd_or_corr_lower": float(sd_lo), "sd_or_corr_upper": float(sd_hi),
    }


register_kind(MixedResult, LmmKind())
