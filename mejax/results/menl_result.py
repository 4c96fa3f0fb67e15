"""The result of a nonlinear mixed-model fit (``menl``): estimates, tests and Stata's layout."""

from __future__ import annotations

from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import special

from ..batch.menl import variance_rows
from ..errors import SpecError
from ..fit.lindstrom_bates import (
    LbFit,
    effects,
    fit_lindstrom_bates_batch,
    residual_conditioning,
    variance_inference,
)
from ..fit.menl import NonlinearDesign
from ..inference.bootstrap import bootstrap
from ..inference.fitted import FittedModel
from ..inference.hypothesis import estat_ic, lincom, test
from ..inference.menl_margins import margins
from ..inference.simulate import simulate
from ..models.menl_expression import ExpressionMean
from ..models.nonlinear import effect_rows, mean, row_params
from ..text import LINE, StataText, fmt, general, html_block


class MenlResult(FittedModel):
    """Estimates of ``menl``: ``fixef``, ``fixef_se``, ``vcov``, ``varcomp``, ``loglik``, ..."""

    df = None  # no small-sample degrees of freedom (post-estimation reads these)
    small_sample = None
    pseudo = False  # a likelihood (no weights): lrtest applies
    survey = None

    def __init__(self, design: NonlinearDesign, fit: LbFit, level: float = 95.0,
                 options: dict | None = None, method: str = "linearization",
                 variance: tuple | None = None, problem: str = ""):
        self.design = design
        self.method_name = method  # "linearization" (Lindstrom-Bates), "laplace", "mvaghermite"
        self._given_variance = None if variance is None else tuple(map(np.asarray, variance))
        self._fit = jax.tree_util.tree_map(np.asarray, fit)
        self.reml = design.model.reml
        self.level = float(level)
        self.options = dict(options or {})
        self.converged = bool(self._fit.converged)
        self.problem = problem  # why the estimates are not a trustworthy optimum, or ""
        self.iterations = int(self._fit.iterations)
        self.nobs = design.nobs
        self.n_dropped = design.n_dropped
        self.omitted: list[str] = []

    @property
    def response_label(self) -> str:
        """How tests name the outcome's equation."""
        return self.design.response

    @property
    def model(self):
        """The nonlinear model's static structure (batch refits are chosen by it)."""
        return self.design.model

    # ---- estimates -------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    @property
    def loglik(self) -> float:
        return float(self._fit.loglik)

    @property
    def sigma2(self) -> float:
        return float(self._fit.sigma2)

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._fit.beta, index=list(self.design.model.fixed), name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.design.model.fixed)
        return pd.DataFrame(self._fit.vcov, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._fit.vcov)), index=self.fixef.index, name="se")

    @property
    def n_params(self) -> int:
        model = self.design.model
        return (model.p + sum(len(s.entries()) for s in model.structures)
                + model.variance.n_params() + 1
                + (model.residual.n_params() if model.residual is not None else 0))

    @cached_property
    def _variance(self):
        """Reported variance parameters and their covariance: the Laplace fit's own, or the
        linearised model's information at the Lindstrom-Bates fixed point."""
        if self._given_variance is not None:
            return self._given_variance
        values, cov, _ = variance_inference(self._fit, self.design.arrays, self.design.model)
        return np.asarray(values), np.asarray(cov)

    @cached_property
    def varcomp(self) -> pd.DataFrame:
        """Variance parameters: group, var1, var2, estimate, std_err, lower, upper."""
        values, cov = self._variance
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        rows = variance_rows(self.design)
        out = []
        for (group, v1, v2, scale, by), est, s in zip(rows, values, se):
            lo, hi = _interval(est, s, scale, self._z)
            out.append({"group": group, "var1": v1, "var2": v2, "estimate": float(est),
                        "std_err": float(s), "lower": lo, "upper": hi, "by": by})
        return pd.DataFrame(out)

    @property
    def coef_table(self) -> pd.DataFrame:
        b, se = self.fixef, self.fixef_se
        z = b / se
        p = 2 * special.ndtr(-np.abs(z))
        return pd.DataFrame({"coef": b, "std_err": se, "z": z, "p": p,
                             "ci_lower": b - self._z * se, "ci_upper": b + self._z * se})

    @property
    def groups(self) -> pd.DataFrame:
        rows = []
        for level, codes in zip(self.design.levels, self.design.arrays.codes):
            counts = np.bincount(np.asarray(codes))
            rows.append({"group": level.label, "n_groups": len(counts), "min": int(counts.min()),
                         "avg": float(counts.mean()), "max": int(counts.max())})
        return pd.DataFrame(rows)

    @property
    def notes(self) -> list[str]:
        out = []
        if not self.converged:
            what = {"laplace": "BFGS (Laplace)", "mvaghermite": "BFGS (quadrature)"}.get(
                self.method_name, "Lindstrom-Bates")
            out.append(f"convergence not achieved: {self.problem}" if self.problem else
                       f"convergence not achieved after {self.iterations} {what} iterations")
        if self.n_dropped:
            out.append(f"{self.n_dropped} observations dropped for missing values")
        return out

    # ---- predictions ---------------------------------------------------------------------------
    def _effects(self) -> list[np.ndarray]:
        return [np.asarray(b) for b in effects(self._fit.us, self._fit.theta, self.design.model)]

    def ranef(self) -> dict[str, pd.DataFrame]:
        """Predicted random effects (the PNLS modes), one frame per level."""
        out = {}
        for level, names, labels, b in zip(self.design.levels, self.design.model.effects,
                                           self.design.group_labels, self._effects()):
            out[level.name] = pd.DataFrame(b, index=pd.Index(labels, name=level.label),
                                           columns=list(names))
        return out

    def _levels_up_to(self, relevel: str | None) -> list[bool]:
        """Which levels' effects a prediction at ``relevel`` includes (all when None):
        the level named and the levels it is nested in."""
        levels = self.design.levels
        if relevel is None:
            return [True] * len(levels)
        chosen = [lv for lv in levels if relevel in (lv.name, lv.label)]
        if not chosen:
            raise ValueError(f"relevel({relevel}): not a random-effects level of the model "
                             f"(levels: {', '.join(lv.name for lv in levels)})")
        path = chosen[0].path
        return [lv.path == path[:len(lv.path)] for lv in levels]

    def predict(self, kind: str = "yhat", fixedonly: bool = False, relevel: str | None = None,
                expression: str | None = None) -> np.ndarray | pd.DataFrame:
        """``yhat`` (the fitted mean, with random effects unless ``fixedonly``), ``residuals``,
        ``rstandard`` (residuals over their sd), ``reffects`` (per row, one column each) or
        ``expression`` (the named expression ``{expression:}`` of Stata's syntax).
        ``relevel`` keeps the effects of that level and those it is nested in (for
        ``reffects``: that level's only)."""
        d, model = self.design, self.design.model
        bs = self._effects()
        keep = self._levels_up_to(relevel)
        if kind == "reffects":
            exact = [lv.name == relevel or lv.label == relevel for lv in d.levels]
            cols = {name: b[np.asarray(c)][:, j]
                    for names, b, c, use in zip(model.effects, bs, d.arrays.codes, exact)
                    if relevel is None or use for j, name in enumerate(names)}
            return pd.DataFrame(cols, index=d.frame.index)
        bs = [b if use and not fixedonly else np.zeros_like(b) for b, use in zip(bs, keep)]
        beta, jbs = jnp.asarray(self._fit.beta), [jnp.asarray(b) for b in bs]
        if kind == "expression":
            if expression is None or not isinstance(model.mean, ExpressionMean):
                raise ValueError("predict(kind='expression') needs a model written in Stata's "
                                 "syntax and expression= naming one of its define()s")
            params = row_params(beta, effect_rows(jbs, d.arrays.codes), model)
            return np.asarray(model.mean.named(expression, params, d.arrays.data)) * \
                np.ones(d.nobs)
        fitted = np.asarray(mean(beta, jbs, d.arrays.codes, d.arrays.data, model))
        if kind in ("yhat", "mu", "fitted"):
            return fitted
        resid = d.y - fitted
        if kind in ("residuals", "resid"):
            return resid
        if kind == "rstandard":
            v = model.variance.row_covariate(jnp.asarray(fitted), jnp.asarray(d.arrays.covariate))
            g = np.exp(np.asarray(model.variance.log_sd(jnp.asarray(self._fit.vpar), v)))
            return resid / (np.sqrt(self.sigma2) * g)
        raise ValueError(f"unknown prediction {kind!r}; use yhat, residuals, rstandard, "
                         "reffects or expression")

    # ---- batches ------------------------------------------------------------------------------
    def refit_batch(self, responses, lanes: int = 1) -> pd.DataFrame:
        """Refit the model to each row of ``responses`` (fits × nobs, e.g. simulated studies
        of this design) in one compiled call, from this fit's estimates: the fits run one
        after another, ``lanes`` at a time vmapped (one is fastest on CPU; see
        :func:`~mejax.fit.lindstrom_bates.fit_lindstrom_bates_batch`). One row per fit: the
        fixed effects, σ², loglik, converged, iterations; a fit whose residual covariance
        ends near singular counts as not converged, as a single fit does."""
        d, model = self.design, self.design.model
        ys = np.asarray(responses, dtype=float)
        if ys.ndim != 2 or not len(ys) or ys.shape[1] != d.nobs or not np.all(np.isfinite(ys)):
            raise ValueError(f"responses must be a finite array of shape (fits, {d.nobs})")
        if not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
        f = self._fit
        out = fit_lindstrom_bates_batch(jnp.asarray(f.beta), tuple(jnp.zeros_like(jnp.asarray(u))
                                                                   for u in f.us),
                                        jnp.asarray(f.theta), jnp.asarray(f.vpar), d.arrays,
                                        jnp.asarray(ys), model, min(lanes, len(ys)))
        converged = np.asarray(out.converged)
        if model.residual is not None:
            thetas = np.asarray(out.theta)
            converged = converged & np.array([not residual_conditioning(t, d.arrays, model)
                                              for t in thetas], dtype=bool)
        frame = pd.DataFrame(np.asarray(out.beta), columns=list(model.fixed))
        return frame.assign(sigma2=np.asarray(out.sigma2), loglik=np.asarray(out.loglik),
                            converged=converged, iterations=np.asarray(out.iterations))

    def simulate(self, n: int = 1, seed=None) -> np.ndarray:
        """(n, nobs) responses drawn from the fitted model: new random effects at every
        level, residuals with the fitted variance function and residual correlation."""
        return simulate(self, n, seed)

    def bootstrap(self, n: int = 1000, seed=None, **options):
        """Parametric bootstrap: ``n`` simulated replicates refitted (Lindstrom-Bates) in
        compiled batches; percentile CIs over the converged ones
        (:class:`~mejax.inference.bootstrap.BootstrapResult`)."""
        return bootstrap(self, n, seed, **options)

    # ---- tests ---------------------------------------------------------------------------------
    def test(self, hypothesis: str):
        return test(self, hypothesis)

    def lincom(self, expression: str, level: float | None = None):
        return lincom(self, expression, level)

    def estat_ic(self):
        return estat_ic(self)

    def margins(self, spec: str = "", at=None, dydx=None, level: float | None = None):
        """Predictive margins of the mean at zero random effects (``at()``) or average
        marginal effects of its variables (``dydx()``): :mod:`mejax.inference.menl_margins`."""
        return margins(self, spec, at, dydx, level)

    def icc(self):
        """Not defined after menl (as in Stata, which offers no ``estat icc`` there)."""
        raise SpecError("estat icc is not available after menl: in a nonlinear model "
                              "the share of variance due to a level changes with the "
                              "covariates and the effects' place in the mean; see "
                              "varcomp (estat sd) for the variance components")

    # ---- output --------------------------------------------------------------------------------
    def summary(self) -> StataText:
        return StataText(render_menl(self))

    def __str__(self) -> str:
        return render_menl(self)

    def __repr__(self) -> str:
        return render_menl(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: Stata's table, the very text of ``summary()``."""
        return html_block(self.summary())


def _interval(est: float, se: float, scale: str, z: float) -> tuple[float, float]:
    """Interval on the scale Stata builds it on: log (variances, ratios), atanh
    (correlations), logit (ctar1's ρ), else the estimate's own."""
    if scale == "log" and est > 1e-12 * max(se, 1e-300):
        half = min(z * se / est, 700.0)
        return float(est * np.exp(-half)), float(est * np.exp(half))
    if scale == "atanh" and abs(est) < 1.0:
        half = z * se / (1.0 - est ** 2)
        return float(np.tanh(np.arctanh(est) - half)), float(np.tanh(np.arctanh(est) + half))
    if scale == "logit" and 0.0 < est < 1.0:
        half = z * se / (est * (1.0 - est))
        logit = np.log(est) - np.log1p(-est)
        return float(special.expit(logit - half)), float(special.expit(logit + half))
    return float(est - z * se), float(est + z * se)


def _pair(left: str, name: str, value: str) -> str:
    return f"{left:<48}{name:<17} = {value:>10}"


def render_menl(res: MenlResult) -> str:
    """Stata's menl layout: header, fixed-effects table, random-effects parameters."""
    lines = ["", _pair(f"Mixed-effects {res.method} nonlinear regression", "Number of obs",
                       f"{res.nobs:,}")]
    groups = res.groups
    if len(groups) == 1:
        g = groups.iloc[0]
        lines += [_pair(f"Group variable: {g['group']}", "Number of groups",
                        f"{g['n_groups']:,}"), "", f"{'':48}Obs per group:",
                  f"{'':48}{'min':>17} = {g['min']:>10,}",
                  f"{'':48}{'avg':>17} = {g['avg']:>10.1f}",
                  f"{'':48}{'max':>17} = {g['max']:>10,}"]
    else:
        lines += ["", "-" * 61, f"{'':16}|     No. of       Observations per group",
                  f"{'Group variable':>15} |     groups    Minimum    Average    Maximum",
                  "-" * 16 + "+" + "-" * 44]
        for _, g in groups.iterrows():
            lines.append(f"{str(g['group'])[:15]:>15} | {g['n_groups']:>10,} {g['min']:>10,} "
                         f"{g['avg']:>10.1f} {g['max']:>10,}")
        lines.append("-" * 61)
    integration = {"laplace": "Integration      : Laplace",
                   "mvaghermite": _pair("Integration method: mvaghermite", "Integration pts.",
                                        f"{res.options.get('intpoints', 7)}")}
    lines += ["", integration.get(res.method_name, "Linearization    : Lindstrom-Bates"),
              f"Log {'restricted-' if res.reml else ''}likelihood = {general(res.loglik, 10)}",
              ""]
    head = (f"{res.design.response[:12]:>12} | {'Coefficient':>11}  Std. err.      z    P>|z|"
            f"     [{res.level:g}% conf. interval]")
    lines += ["-" * LINE, head, "-" * 13 + "+" + "-" * (LINE - 14)]
    lines += _coefficient_rows(res.coef_table)
    lines += ["-" * LINE, "", "-" * LINE,
              f"  Random-effects parameters |   Estimate   Std. err.     [{res.level:g}% conf. "
              "interval]", "-" * 28 + "+" + "-" * (LINE - 29)]
    vc = res.varcomp
    model = res.design.model
    for (group, struct) in zip([lv.name for lv in res.design.levels], model.structures):
        lines.append(f"{group + ': ' + struct.label:<28}|")
        for _, r in vc[vc["group"] == group].iterrows():
            label = f"var({r['var1']})" if r["var2"] is None else f"cov({r['var1']},{r['var2']})"
            lines.append(_vc_line(label, r))
        lines.append("-" * 28 + "+" + "-" * (LINE - 29))
    resid = vc[vc["group"] == "Residual"]
    if model.residual is not None:
        n_structure = len(model.residual.parameter_names()) * model.residual.n_by
        spec = res.design.residual_design.spec
        lines.append(f"{'Residual: ' + model.residual.title() + (',' if spec.by else ''):<28}|")
        if spec.by:
            lines.append(f"{'    by ' + spec.by:<28}|")
        if spec.t:
            lines.append(f"{'  t: ' + spec.t:<28}|")
        lines += [_vc_line(str(r["var1"]) if r["by"] is None else f"{r['by']}: {r['var1']}", r)
                  for _, r in resid.iloc[:n_structure].iterrows()]
        resid = resid.iloc[n_structure:]
    if model.variance.n_params():
        cov = model.variance.covariate
        lines.append(f"{'Residual variance:':<28}|")
        lines.append(f"{'  ' + model.variance.label + ' ' + cov:<28}|")
        for _, r in resid.iterrows():
            lines.append(_vc_line(str(r["var1"]), r))
    elif model.residual is None:
        lines.append(_vc_line("var(Residual)", resid.iloc[0], indent=""))
    lines.append("-" * LINE)
    lines += [f"Note: {n}." for n in res.notes]
    return "\n".join(lines)


def _coefficient_rows(table: pd.DataFrame) -> list[str]:
    """Stata's rows: each linear combination's coefficients (``phi1:x1``) under its name,
    then the free parameters as ``/b1``."""
    def row_text(label: str, row) -> str:
        return (f"{label[:12]:>12} | {fmt(row['coef'])} {fmt(row['std_err'])} "
                f"{row['z']:8.2f} {row['p']:8.3f}    {fmt(row['ci_lower'])}  "
                f"{fmt(row['ci_upper'])}")

    equations: dict[str, list] = {}
    free = []
    for name, row in table.iterrows():
        eq, colon, coef = str(name).partition(":")
        if colon:
            equations.setdefault(eq, []).append((coef, row))
        else:
            free.append((name, row))
    lines = []
    for eq, rows in equations.items():
        lines.append(f"{eq[:12]:<12} |")
        lines += [row_text(coef, row) for coef, row in rows]
        lines.append("-" * 13 + "+" + "-" * (LINE - 14))
    lines += [row_text("/" + name, row) for name, row in free]
    if not free and lines:
        lines.pop()
    return lines


def _vc_line(label: str, r, indent: str = "  ") -> str:
    return (f"{(indent + label)[:27]:>27} | {fmt(r['estimate'])}  {fmt(r['std_err'])}     "
            f"{fmt(r['lower'])}  {fmt(r['upper'])}")
