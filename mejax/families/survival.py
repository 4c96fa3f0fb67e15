"""Parametric survival outcomes (mestreg): exponential, Weibull, Gompertz, lognormal,
loglogistic and gamma, in Stata's parameterisations.

A row is a record (t0, t] with a failure indicator d: its log density is
d·log h(t) + log S(t) − log S(t0), conditional on the random effects as Stata's
``mestreg`` has it (delayed entry truncates each record). The metric is the
family's link: ``ph`` (proportional hazards, λ = exp(η)) for exponential,
Weibull and Gompertz, ``aft`` (accelerated failure time, ln T = η + error) for
exponential, Weibull, lognormal, loglogistic and gamma.

The response is the exit time; failure is derived from it and each row's
censoring time (the exit time of censored rows, +∞ for failures), so
simulated times censor at the observed censoring times and keep the entry.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy  # scipy.stats loads on first use (scipy's lazy submodules): 0.6 s of import
from jax.scipy.special import gammainc, gammaincc, gammaln, log_ndtr
from scipy import special

from ..errors import DataError, SpecError
from .base import Family, ResponseRows
from .links import LOG_2PI, gauss_hermite_mean, log_expit

SURVIVAL_STATISTICS = ("median", "mean_time", "hazard", "surv", "density", "cumhaz")
RECORD_START = "_t0"  # each record's beginning under stset's id() (Stata's _t0)


def _titles(distribution: str, links: tuple[str, ...]) -> dict[str, str]:
    return {link: f"Mixed-effects {distribution} {link.upper()} regression" for link in links}


def _base_models(distribution: str, links: tuple[str, ...]) -> dict[str, str]:
    return {link: f"{distribution} model" for link in links}


@dataclass(frozen=True)
class Survival(Family):
    """Survival time with a failure indicator and optional delayed entry (Stata's stset).

    ``failure`` names the failure variable (None: every record fails);
    ``failure_codes`` the values that mean failure (None: nonzero, which must
    then be 0/1); ``entry`` the entry-time variable (None: 0).
    """

    time: str | None = None  # the exit-time variable (the response)
    failure: str | None = None
    failure_codes: tuple[float, ...] | None = None
    entry: str | None = None
    subject: str | None = None

    distribution: ClassVar[str]
    statistics: ClassVar[tuple[str, ...]] = SURVIVAL_STATISTICS
    statistics_at_outcome: ClassVar[tuple[str, ...]] = ("hazard", "surv", "density", "cumhaz")
    default_statistic: ClassVar[str] = "median"
    options: ClassVar[tuple[str, ...]] = ("time", "failure", "failure_codes", "entry",
                                          "subject")
    depvars: ClassVar[int] = 0
    uses_stset: ClassVar[bool] = True

    def columns(self) -> set[str]:
        starts = (self.subject, RECORD_START) if self.subject else (self.entry,)
        return super().columns() | {c for c in (self.time, self.failure, *starts) if c}

    def response_label(self, response):
        return "_t"

    def default_eform(self, options):
        if options.get("tratio"):
            if self.link != "aft":
                raise SpecError("tratio reports time ratios of accelerated failure-time models; "
                                "add the option time (exponential, weibull)")
            return "tr"
        if self.link == "ph" and not options.get("nohr"):
            return "hr"
        return None

    # ---- host-side rows -----------------------------------------------------------------
    def given_values(self, frame, n):
        if self.time is None:
            raise SpecError("mestreg needs the survival time: stset time, failure(var) first, "
                            "or mejax.mestreg(..., time='time')")
        time = frame.values(self.time)
        fails = np.ones(n, dtype=bool)
        if self.failure is not None:
            if not frame.numeric[self.failure]:
                raise DataError(f"failure variable {self.failure!r} must be numeric")
            code = frame.values(self.failure)
            if self.failure_codes is not None:
                fails = np.isin(code, np.asarray(self.failure_codes, dtype=float))
            else:
                if not np.isin(code, (0.0, 1.0)).all():
                    bad = sorted(set(np.unique(code)) - {0.0, 1.0})[:5]
                    raise DataError(
                        f"failure variable {self.failure!r} has values other than 0 and 1 "
                        f"({', '.join(f'{b:g}' for b in bad)}); say which values mean failure: "
                        f"stset time, failure({self.failure}==1 2) or "
                        f"failure_codes=(1, 2)")
                fails = code != 0
        given = {"censor_time": np.where(fails, np.inf, time)}
        if self.subject is not None:
            if RECORD_START not in frame.names():
                raise SpecError(f"stset's id({self.subject}) needs each record's beginning "
                                f"{RECORD_START}: mejax.spec.st_records.counting_process")
            given["subject"] = pd.factorize(frame[self.subject])[0].astype(float)
            return {**given, "entry": frame.values(RECORD_START).copy()}
        if self.entry is not None and not frame.numeric[self.entry]:
            raise DataError(f"entry variable {self.entry!r} must be numeric")
        entry = np.zeros(n) if self.entry is None else frame.values(self.entry).copy()
        return {**given, "entry": entry}

    def validate(self, y, given, response) -> ResponseRows:
        if np.any(y <= 0):
            raise DataError(f"survival time {response} must be positive: {int((y <= 0).sum())} "
                            f"observation(s) have {response} <= 0")
        late = given["entry"] >= y
        if np.any(late):
            raise DataError(f"delayed entry at or after the exit time in {int(late.sum())} "
                            f"observation(s) (first at row {int(np.argmax(late)) + 1}): "
                            f"{self.entry} must be below {response}")
        if np.any(given["entry"] < 0):
            raise DataError(f"entry times {self.entry} must not be negative")
        if not np.any(np.isinf(given["censor_time"])):
            codes = ("" if self.failure_codes is None else
                     f"=={' '.join(f'{c:g}' for c in self.failure_codes)}")
            raise DataError(f"no failures: every record is censored (failure({self.failure}"
                            f"{codes})); check the failure variable and the values that mean "
                            "failure")
        return ResponseRows(y)

    def response_rows(self, y, given, categories=()):
        censor = np.broadcast_to(given["censor_time"], y.shape)
        entry = np.broadcast_to(given["entry"], y.shape)
        valid = np.isfinite(y) & (y > 0) & (y > entry)
        t = np.where(valid, y, np.maximum(entry, 0.0) + 1.0)
        has_entry = entry > 0
        return {"y": t, "log_t": np.log(t), "failure": (t < censor).astype(float),
                "entry": np.where(has_entry, entry, 1.0),
                "log_entry": np.log(np.where(has_entry, entry, 1.0)),
                "has_entry": has_entry.astype(float)}, valid

    def preamble(self):
        fail = self.failure or "1 (every record fails)"
        if self.failure is not None and self.failure_codes is not None:
            fail = f"{self.failure} == {' '.join(f'{c:g}' for c in self.failure_codes)}"
        lines = [f"{'failure _d':>18}: {fail}", f"{'analysis time _t':>18}: {self.time}"]
        if self.subject is not None:
            lines.append(f"{'id':>18}: {self.subject}")
        if self.entry is not None:
            lines.append(f"{'enter on or after':>18}: time {self.entry}")
        return lines

    def header_rows(self, data):
        at_risk = float(np.sum(np.asarray(data["y"]) - np.asarray(data["entry"])
                               * np.asarray(data["has_entry"])))
        subjects = ([("", "No. of subjects", f"{len(np.unique(data['subject'])):,}")]
                    if "subject" in data else [])
        return [*subjects, ("", "No. of failures", f"{int(np.sum(data['failure'])):,}"),
                ("", "Time at risk", f"{at_risk:,.10g}")]

    # ---- the distribution (traced) -----------------------------------------------------------
    @abc.abstractmethod
    def log_hazard(self, t, log_t, eta, aux):
        """log h(t | η)."""

    @abc.abstractmethod
    def log_survival(self, t, log_t, eta, aux):
        """log S(t | η)."""

    def log_density(self, eta, data, aux):
        ll = data["failure"] * self.log_hazard(data["y"], data["log_t"], eta, aux) \
            + self.log_survival(data["y"], data["log_t"], eta, aux)
        entry = self.log_survival(data["entry"], data["log_entry"], eta, aux)
        return ll - data["has_entry"] * entry

    # ---- statistics for predict and margins -------------------------------------------------
    def mean(self, eta, trials, aux, var=None):
        return self.statistic("mean_time", eta, {}, aux, var)

    def probability(self, eta, aux, var=None, outcome=None):
        raise SpecError("predict after mestreg: use median, mean_time, hazard, surv or density")

    def mean_time(self, eta, aux):
        """E[T | η]."""
        raise SpecError(f"the mean time is not available for the {self.distribution} model")

    def median_time(self, eta, aux):
        """The median survival time given η (closed forms; bisection otherwise)."""
        return self._quantile(eta, aux, 0.5, None)

    def _survival(self, log_t, eta, aux, var):
        """S(t | η), or averaged over η + N(0, var) (the marginal survivor)."""
        if var is None:
            return jnp.exp(self.log_survival(jnp.exp(log_t), log_t, eta, aux))
        lt = log_t[..., None]
        return gauss_hermite_mean(
            lambda e: jnp.exp(self.log_survival(jnp.exp(lt), lt, e, aux)), eta, var)

    def _quantile(self, eta, aux, p, var):
        """t with S(t) = 1 − p, by bisection on log t (marginal S with ``var``).

        Bisection has no derivative, so one Newton step from the stopped root
        carries the implicit one (−∂S/∂θ ÷ ∂S/∂log t) for margins' delta method.
        """
        lo = jnp.full(jnp.shape(eta), -40.0)
        hi = jnp.full(jnp.shape(eta), 40.0)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            above = self._survival(mid, eta, aux, var) > 1.0 - p
            lo, hi = jnp.where(above, mid, lo), jnp.where(above, hi, mid)
        root = jax.lax.stop_gradient(0.5 * (lo + hi))

        def gap(log_t):
            return self._survival(log_t, eta, aux, var) - (1.0 - p)

        value, slope = jax.jvp(gap, (root,), (jnp.ones_like(root),))
        return jnp.exp(root - value / jax.lax.stop_gradient(slope))

    def statistic(self, kind, eta, given, aux, var=None, bounds=None):
        """Stata's statistics after mestreg; ``var`` averages over the random effects.

        surv, density, hazard and cumhaz are at each row's time ``given["time"]``;
        marginally S and f are averaged and h = f/S, H = −log S.
        """
        if kind == "median":
            if var is None:
                return self.median_time(eta, aux)
            return self._quantile(eta, aux, 0.5, var)
        if kind == "mean_time":
            if var is None:
                return self.mean_time(eta, aux)
            return gauss_hermite_mean(lambda e: self.mean_time(e, aux), eta, var)
        t = jnp.asarray(given["time"])
        log_t = jnp.log(t)

        def log_s(e, tt=t, lt=log_t):
            return self.log_survival(tt, lt, e, aux)

        def log_f(e):
            return self.log_hazard(t, log_t, e, aux) + log_s(e)

        if var is None:
            s, f = jnp.exp(log_s(eta)), jnp.exp(log_f(eta))
        else:
            tt, lt = t[..., None], log_t[..., None]
            s = gauss_hermite_mean(lambda e: jnp.exp(self.log_survival(tt, lt, e, aux)),
                                   eta, var)
            f = gauss_hermite_mean(lambda e: jnp.exp(self.log_hazard(tt, lt, e, aux)
                                                     + self.log_survival(tt, lt, e, aux)),
                                   eta, var)
        return {"surv": s, "density": f, "hazard": f / s, "cumhaz": -jnp.log(s)}[kind]

    def simulate(self, rng, eta, given, aux, categories=()):
        """Times drawn beyond each row's entry, censored at its censoring time."""
        entry = np.broadcast_to(given["entry"], eta.shape)
        u = rng.uniform(size=eta.shape)
        log_s0 = np.where(entry > 0, np.asarray(self.log_survival(
            jnp.asarray(np.where(entry > 0, entry, 1.0)),
            jnp.log(jnp.asarray(np.where(entry > 0, entry, 1.0))), jnp.asarray(eta),
            jnp.asarray(aux))), 0.0)
        t = self.draw_time(np.log(u) + log_s0, eta, aux)
        return np.minimum(t, np.broadcast_to(given["censor_time"], eta.shape))

    def draw_time(self, log_s, eta, reported):
        """T with log S(T) = ``log_s`` (host; aux on the reporting scale)."""
        raise SpecError(f"simulation is not available for the {self.distribution} model")


def _rate_eta(family: Survival, eta, scale):
    """log λ: η under PH, −scale·η under AFT."""
    return eta if family.link == "ph" else -scale * eta


@dataclass(frozen=True)
class Exponential(Survival):
    link: str = "ph"
    name: ClassVar[str] = "exponential"
    distribution: ClassVar[str] = "exponential"
    links: ClassVar[tuple[str, ...]] = ("ph", "aft")
    titles: ClassVar[dict[str, str]] = _titles("exponential", ("ph", "aft"))
    base_models: ClassVar[dict[str, str]] = _base_models("exponential", ("ph", "aft"))

    def log_hazard(self, t, log_t, eta, aux):
        return _rate_eta(self, eta, 1.0) + 0.0 * t

    def log_survival(self, t, log_t, eta, aux):
        return -jnp.exp(_rate_eta(self, eta, 1.0) + log_t)

    def median_time(self, eta, aux):
        return np.log(2.0) * jnp.exp(-_rate_eta(self, eta, 1.0))

    def mean_time(self, eta, aux):
        return jnp.exp(-_rate_eta(self, eta, 1.0))

    def draw_time(self, log_s, eta, reported):
        return -log_s * np.exp(-np.asarray(_rate_eta(self, eta, 1.0)))


@dataclass(frozen=True)
class Weibull(Survival):
    """h(t) = p λ t^(p−1); λ = exp(η) (PH) or exp(−pη) (AFT); ancillary /ln_p."""

    link: str = "ph"
    name: ClassVar[str] = "weibull"
    distribution: ClassVar[str] = "weibull"
    links: ClassVar[tuple[str, ...]] = ("ph", "aft")
    titles: ClassVar[dict[str, str]] = _titles("Weibull", ("ph", "aft"))
    base_models: ClassVar[dict[str, str]] = _base_models("Weibull", ("ph", "aft"))

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["ln_p"]

    def derived_aux_names(self, response, n_categories=0):
        return ["p", "1/p"]

    def derived_aux(self, reported):
        return jnp.stack([jnp.exp(reported[0]), jnp.exp(-reported[0])])

    def log_hazard(self, t, log_t, eta, aux):
        p = jnp.exp(aux[0])
        return aux[0] + _rate_eta(self, eta, p) + (p - 1.0) * log_t

    def log_survival(self, t, log_t, eta, aux):
        p = jnp.exp(aux[0])
        return -jnp.exp(_rate_eta(self, eta, p) + p * log_t)

    def median_time(self, eta, aux):
        p = jnp.exp(aux[0])
        return jnp.exp((np.log(np.log(2.0)) - _rate_eta(self, eta, p)) / p)

    def mean_time(self, eta, aux):
        p = jnp.exp(aux[0])
        return jnp.exp(gammaln(1.0 + 1.0 / p) - _rate_eta(self, eta, p) / p)

    def draw_time(self, log_s, eta, reported):
        p = float(np.exp(reported[0]))
        return np.exp((np.log(-log_s) - np.asarray(_rate_eta(self, eta, p))) / p)


@dataclass(frozen=True)
class Gompertz(Survival):
    """h(t) = λ exp(γt), λ = exp(η) (PH only); ancillary /gamma, as Stata's streg."""

    link: str = "ph"
    name: ClassVar[str] = "gompertz"
    distribution: ClassVar[str] = "gompertz"
    links: ClassVar[tuple[str, ...]] = ("ph",)
    titles: ClassVar[dict[str, str]] = _titles("Gompertz", ("ph",))
    base_models: ClassVar[dict[str, str]] = _base_models("Gompertz", ("ph",))

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["gamma"]

    def log_hazard(self, t, log_t, eta, aux):
        return eta + aux[0] * t

    def log_survival(self, t, log_t, eta, aux):
        gamma = aux[0]
        small = jnp.abs(gamma) < 1e-8
        safe = jnp.where(small, 1.0, gamma)
        integral = jnp.where(small, t + 0.5 * gamma * t**2, jnp.expm1(safe * t) / safe)
        return -jnp.exp(eta) * integral

    def draw_time(self, log_s, eta, reported):
        gamma = float(reported[0])
        h = -log_s * np.exp(-eta)  # the integral (e^{γt} − 1)/γ
        if abs(gamma) < 1e-12:
            return h
        inside = 1.0 + gamma * h
        return np.where(inside > 0, np.log(np.maximum(inside, 1e-300)) / gamma, np.inf)


@dataclass(frozen=True)
class _LogLocationScale(Survival):
    """ln T = η + σ·ε (AFT) for a standard ε; ancillary /logs = ln σ."""

    link: str = "aft"
    links: ClassVar[tuple[str, ...]] = ("aft",)
    scale_name: ClassVar[str] = "sigma"

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["logs"]

    def derived_aux_names(self, response, n_categories=0):
        return [self.scale_name]

    def derived_aux(self, reported):
        return jnp.exp(reported[:1])

    @abc.abstractmethod
    def log_pdf_std(self, z):
        """log f_ε(z)."""

    @abc.abstractmethod
    def log_sf_std(self, z):
        """log P(ε > z)."""

    def log_hazard(self, t, log_t, eta, aux):
        z = (log_t - eta) / jnp.exp(aux[0])
        return self.log_pdf_std(z) - aux[0] - log_t - self.log_sf_std(z)

    def log_survival(self, t, log_t, eta, aux):
        return self.log_sf_std((log_t - eta) / jnp.exp(aux[0]))

    def median_time(self, eta, aux):
        return jnp.exp(eta)  # ε's median is 0 for both


@dataclass(frozen=True)
class Lognormal(_LogLocationScale):
    name: ClassVar[str] = "lognormal"
    distribution: ClassVar[str] = "lognormal"
    titles: ClassVar[dict[str, str]] = _titles("lognormal", ("aft",))
    base_models: ClassVar[dict[str, str]] = _base_models("lognormal", ("aft",))

    def log_pdf_std(self, z):
        return -0.5 * z**2 - 0.5 * LOG_2PI

    def log_sf_std(self, z):
        return log_ndtr(-z)

    def mean_time(self, eta, aux):
        return jnp.exp(eta + 0.5 * jnp.exp(2.0 * aux[0]))

    def draw_time(self, log_s, eta, reported):
        z = -special.ndtri(np.exp(log_s))  # P(ε > z) = S
        return np.exp(eta + np.exp(reported[0]) * z)


@dataclass(frozen=True)
class Loglogistic(_LogLocationScale):
    """S(t) = 1/(1 + (t e^{−η})^{1/γ}); Stata shows γ = exp(/logs) as ``gamma``."""

    name: ClassVar[str] = "loglogistic"
    distribution: ClassVar[str] = "loglogistic"
    titles: ClassVar[dict[str, str]] = _titles("loglogistic", ("aft",))
    base_models: ClassVar[dict[str, str]] = _base_models("loglogistic", ("aft",))
    scale_name: ClassVar[str] = "gamma"

    def log_pdf_std(self, z):
        return log_expit(z) + log_expit(-z)

    def log_sf_std(self, z):
        return log_expit(-z)

    def mean_time(self, eta, aux):
        g = jnp.exp(aux[0])
        value = jnp.exp(eta) * jnp.pi * g / jnp.sin(jnp.pi * g)
        return jnp.where(g < 1.0, value, jnp.inf)

    def draw_time(self, log_s, eta, reported):
        z = -special.logit(np.exp(log_s))
        return np.exp(eta + np.exp(reported[0]) * z)


@dataclass(frozen=True)
class Gamma(Survival):
    """Two-parameter gamma (AFT): T·e^{−η}/s² ~ Gamma(shape 1/s²), E[T] = e^η; /logs = ln s.

    The generalized gamma of Stata's streg with κ = σ = s; a parameterisation
    chosen from that special case, not checked against Stata's mestreg output.
    """

    link: str = "aft"
    name: ClassVar[str] = "gamma"
    distribution: ClassVar[str] = "gamma"
    links: ClassVar[tuple[str, ...]] = ("aft",)
    titles: ClassVar[dict[str, str]] = _titles("gamma", ("aft",))
    base_models: ClassVar[dict[str, str]] = _base_models("gamma", ("aft",))

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["logs"]

    def derived_aux_names(self, response, n_categories=0):
        return ["sigma"]

    def derived_aux(self, reported):
        return jnp.exp(reported[:1])

    def _shape_and_x(self, log_t, eta, aux):
        s2 = jnp.exp(2.0 * aux[0])
        shape = 1.0 / s2
        return shape, jnp.exp(log_t - eta) / s2

    def log_hazard(self, t, log_t, eta, aux):
        shape, x = self._shape_and_x(log_t, eta, aux)
        log_f = (shape - 1.0) * jnp.log(x) - x - gammaln(shape) + jnp.log(x) - log_t
        return log_f - self.log_survival(t, log_t, eta, aux)

    def log_survival(self, t, log_t, eta, aux):
        shape, x = self._shape_and_x(log_t, eta, aux)
        # log(1 − P) below the shape (P < ~0.6), log Q above it; each branch sees harmless
        # inputs where it is not used, so that neither gives NaN gradients
        lower_tail = x < shape
        x_lower = jnp.where(lower_tail, x, 0.5 * shape)
        x_upper = jnp.where(lower_tail, 2.0 * shape + 1.0, x)
        lower = jnp.log1p(-gammainc(shape, x_lower))
        upper = jnp.log(jnp.maximum(gammaincc(shape, x_upper), 1e-300))
        return jnp.where(lower_tail, lower, upper)

    def mean_time(self, eta, aux):
        return jnp.exp(eta)

    def draw_time(self, log_s, eta, reported):
        s2 = float(np.exp(2.0 * reported[0]))
        x = scipy.stats.gamma.isf(np.exp(log_s), 1.0 / s2)
        return x * s2 * np.exp(eta)


SURVIVAL_FAMILIES: dict[str, type[Survival]] = {
    cls.distribution: cls for cls in (Exponential, Weibull, Gompertz, Lognormal, Loglogistic,
                                      Gamma)
}
SURVIVAL_ALIASES = {"exponential": "exponential", "exp": "exponential", "weibull": "weibull",
                    "gompertz": "gompertz", "lognormal": "lognormal", "lnormal": "lognormal",
                    "loglogistic": "loglogistic", "llogistic": "loglogistic", "gamma": "gamma"}
# Stata's shortest abbreviations of distribution(): d(e), d(w), d(gom), d(logl), d(ln), ...
STATA_ABBREVIATIONS = {"exponential": "e", "weibull": "w", "gompertz": "gom",
                       "loglogistic": "logl", "llogistic": "ll", "lognormal": "logn",
                       "lnormal": "ln", "gamma": "gam"}


def stata_distribution(text: str) -> str | None:
    """The distribution Stata's ``distribution(text)`` names (any abbreviation down to
    Stata's shortest), or None."""
    key = text.strip().lower()
    for full, shortest in STATA_ABBREVIATIONS.items():
        if key.startswith(shortest) and full.startswith(key):
            return SURVIVAL_ALIASES[full]
    return SURVIVAL_ALIASES.get(key)
