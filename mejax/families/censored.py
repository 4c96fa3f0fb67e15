"""Censored normal outcomes: tobit (metobit) and interval regression (meintreg).

Both are a normal latent outcome y* = η + σε seen exactly, or only as an
interval: left-censored (y* ≤ b), right-censored (y* ≥ a) or in [a, b].
Every row carries its interval as row arrays (``lower``, ``upper`` and the
``kind`` of observation), so one log density serves both commands and any
mixture of exact and censored rows. σ is estimated on the log scale and
reported, as Stata does, as the residual variance beside the random effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from ..errors import DataError, SpecError
from .base import Family, ResponseRows
from .links import LOG_2PI, log_interval, log_normal_cdf

EXACT, LEFT, RIGHT, INTERVAL = 0, 1, 2, 3
KIND_NAMES = {EXACT: "Uncensored", LEFT: "Left-censored", RIGHT: "Right-censored",
              INTERVAL: "Interval-cens."}


def _limit_values(limit, frame, n: int, default: float, option: str) -> np.ndarray:
    """A tobit limit per row: a number, a numeric variable, or none (±∞; also for True,
    the observed extreme, which :meth:`Tobit.validate` fills in from the response)."""
    if limit is None or limit is True:
        return np.full(n, default)
    if isinstance(limit, str):
        if not frame.numeric[limit]:
            raise DataError(f"{option}({limit}): the limit variable must be numeric")
        return frame.values(limit).copy()
    return np.full(n, float(limit))


def _limit_text(limit, sign: str, values=None) -> str:
    if limit is None:
        return f"{sign}inf"
    if limit is True:
        return f"{float(np.asarray(values)[0]):g}"
    return limit if isinstance(limit, str) else f"{float(limit):g}"


def _normal_pdf(z):
    """φ(z), 0 at ±∞ (with a finite stand-in there, so gradients stay finite)."""
    finite = jnp.isfinite(z)
    return jnp.where(finite, jnp.exp(-0.5 * jnp.where(finite, z, 0.0) ** 2 - 0.5 * LOG_2PI),
                     0.0)


def _bounds_data(y, lower, upper, kind) -> dict:
    """Row arrays with finite stand-ins where a bound is open (never read there)."""
    lower = np.where(np.isfinite(lower), lower, 0.0)
    upper = np.where(np.isfinite(upper), upper, 0.0)
    return {"y": y, "lower": lower, "upper": upper, "kind": kind.astype(np.int32)}


@dataclass(frozen=True)
class _CensoredNormal(Family):
    """The latent normal with per-row intervals; subclasses say how rows get them."""

    link: str = "identity"

    links: ClassVar[tuple[str, ...]] = ("identity",)
    default_statistic: ClassVar[str] = "eta"
    statistics: ClassVar[tuple[str, ...]] = ("e", "ystar", "pr")

    residual_variance_aux: ClassVar[bool] = True  # σ²_e shown with the variance components
    interval_rows: ClassVar[bool] = True  # rows censored on both sides (meintreg's)

    def n_aux(self, n_categories=0):
        return 1

    def aux_names(self, n_categories=0):
        return ["var(e)"]

    def aux_reported(self, aux):
        """σ²_e from ln σ_e (Stata's var(e.y))."""
        return jnp.exp(2.0 * aux)

    def residual_label(self, response):
        return f"var(e.{response})"

    def aux_start(self, data, n_categories=0):
        return np.array([np.log(max(float(np.std(data["y"])), 1e-3))])

    def log_density(self, eta, data, aux):
        return self._rows(eta, data, aux)[0]

    def _rows(self, eta, data, aux):
        """Per row: ll, the standardised bounds lo and hi, z and log Φ(z).

        A censored row's log probability is log Φ(z) with z = hi for left- and
        z = −lo for right-censored rows: one log Φ per row. Interval rows add
        their own two-sided probability, traced only for families that have them.
        """
        log_sigma = aux[0]
        sigma = jnp.exp(log_sigma)
        kind = data["kind"]
        lo = (data["lower"] - eta) / sigma
        hi = (data["upper"] - eta) / sigma
        z = jnp.where(kind == LEFT, hi, -lo)
        log_cdf_z = log_normal_cdf(z)
        ll = jnp.where(kind == EXACT, -0.5 * lo**2 - 0.5 * LOG_2PI - log_sigma, log_cdf_z)
        if self.interval_rows:
            is_interval = kind == INTERVAL  # other rows get a harmless unit interval
            interval = log_interval(jnp.where(is_interval, lo, -0.5),
                                    jnp.where(is_interval, hi, 0.5), "probit")
            ll = jnp.where(is_interval, interval, ll)
        return ll, lo, hi, z, log_cdf_z

    def eta_derivatives(self, eta, data, aux):
        """Closed forms: exact rows as a normal; censored rows through the inverse Mills ratio
        λ = φ/Φ; interval rows through φ/P at both ends (ratios formed on the log scale)."""
        ll, lo, hi, z, log_cdf_z = self._rows(eta, data, aux)
        sigma = jnp.exp(aux[0])
        kind = data["kind"]
        exact_d1 = lo / sigma  # (y − η)/σ²
        exact_d2 = -jnp.ones_like(eta) / sigma**2
        # left: ℓ = log Φ(hi); right: ℓ = log Φ(c), c = −lo
        mills = jnp.exp(-0.5 * z**2 - 0.5 * LOG_2PI - log_cdf_z)
        sign = jnp.where(kind == LEFT, -1.0, 1.0)
        d1 = jnp.where(kind == EXACT, exact_d1, sign * mills / sigma)
        d2 = jnp.where(kind == EXACT, exact_d2, -mills * (z + mills) / sigma**2)
        if not self.interval_rows:
            return ll, d1, d2
        # interval: the row's log probability ll, so φ(end)/P = exp(log φ(end) − ll)
        is_interval = kind == INTERVAL
        a = jnp.where(is_interval, lo, -0.5)
        b = jnp.where(is_interval, hi, 0.5)
        log_p = jnp.where(is_interval, ll, log_interval(a, b, "probit"))
        ra = jnp.exp(-0.5 * a**2 - 0.5 * LOG_2PI - log_p)
        rb = jnp.exp(-0.5 * b**2 - 0.5 * LOG_2PI - log_p)
        interval_d1 = (ra - rb) / sigma
        interval_d2 = (a * ra - b * rb) / sigma**2 - interval_d1**2
        return ll, jnp.where(is_interval, interval_d1, d1), jnp.where(is_interval, interval_d2,
                                                                        d2)

    # ---- statistics ------------------------------------------------------------------
    def mean(self, eta, trials, aux, var=None):
        """E[y*] = η (Stata's linear prediction of the latent outcome)."""
        return eta

    def probability(self, eta, aux, var=None, outcome=None):
        raise SpecError(f"predict after {self.name} models: use pr(a,b), e(a,b) or ystar(a,b)")

    def statistic(self, kind, eta, given, aux, var=None, bounds=None):
        """pr(a,b) = P(a < y* < b), e(a,b) = E[y* | a < y* < b], ystar(a,b) = E[max(a, min(y*, b))].

        Marginally y* is normal with variance σ² + var, so ``var`` only widens σ.
        """
        a, b = (-jnp.inf, jnp.inf) if bounds is None else bounds
        sigma = jnp.exp(aux[0])
        if var is not None:
            sigma = jnp.sqrt(sigma**2 + var)
        # an open end stays ±∞ with no derivative (finite stand-ins inside: margins'
        # Jacobians would otherwise meet 0·∞)
        a_open, b_open = not np.isfinite(a), not np.isfinite(b)
        alpha = jnp.full_like(eta, -jnp.inf) if a_open else (a - eta) / sigma
        beta = jnp.full_like(eta, jnp.inf) if b_open else (b - eta) / sigma
        p_lo = jnp.zeros_like(eta) if a_open else ndtr(alpha)
        p_hi = jnp.ones_like(eta) if b_open else ndtr(beta)
        inside = p_hi - p_lo
        if kind == "pr":
            return inside
        pdf_lo = jnp.zeros_like(eta) if a_open else _normal_pdf(alpha)
        pdf_hi = jnp.zeros_like(eta) if b_open else _normal_pdf(beta)
        e = eta + sigma * (pdf_lo - pdf_hi) / inside
        if kind == "e":
            return e
        below = 0.0 if a_open else a * p_lo
        above = 0.0 if b_open else b * (1.0 - p_hi)
        return below + above + inside * e


@dataclass(frozen=True)
class Tobit(_CensoredNormal):
    """y censored below ``ll`` and/or above ``ul``: numbers or variables (per-row limits).

    ``True`` is Stata's bare ``ll`` / ``ul``: the smallest / largest observed y of the
    estimation sample.
    """

    ll: float | str | bool | None = None
    ul: float | str | bool | None = None

    name: ClassVar[str] = "tobit"
    interval_rows: ClassVar[bool] = False  # a row lies below ll, above ul or in between
    titles: ClassVar[dict[str, str]] = {"identity": "Mixed-effects tobit regression"}
    base_models: ClassVar[dict[str, str]] = {"identity": "tobit model"}
    options: ClassVar[tuple[str, ...]] = ("ll", "ul")

    def __post_init__(self):
        super().__post_init__()
        numbers = [isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (self.ll, self.ul)]
        if all(numbers) and not float(self.ll) < float(self.ul):
            raise SpecError(f"ll({self.ll}) must be below ul({self.ul})")

    def columns(self) -> set[str]:
        return super().columns() | {v for v in (self.ll, self.ul) if isinstance(v, str)}

    def given_values(self, frame, n):
        return {"ll": _limit_values(self.ll, frame, n, -np.inf, "ll"),
                "ul": _limit_values(self.ul, frame, n, np.inf, "ul")}

    def validate(self, y, given, response) -> ResponseRows:
        observed = {}
        if self.ll is True:
            observed["ll"] = np.full(len(y), np.min(y))
        if self.ul is True:
            observed["ul"] = np.full(len(y), np.max(y))
        given = {**given, **observed}
        crossed = given["ll"] >= given["ul"]
        if np.any(crossed):
            raise DataError(f"ll() is not below ul() in {int(crossed.sum())} observation(s) "
                            f"(first at row {int(np.argmax(crossed)) + 1}); each row's lower "
                            "limit must be below its upper limit")
        return ResponseRows(y, given=observed)

    def response_rows(self, y, given, categories=()):
        ll, ul = np.broadcast_to(given["ll"], y.shape), np.broadcast_to(given["ul"], y.shape)
        valid = np.isfinite(y)
        safe = np.where(valid, y, 0.0)
        kind = np.where(safe <= ll, LEFT, np.where(safe >= ul, RIGHT, EXACT))
        lower = np.where(kind == RIGHT, ul, safe)
        upper = np.where(kind == LEFT, ll, safe)
        return _bounds_data(safe, lower, upper, kind), valid

    def header_rows(self, data):
        counts = np.bincount(np.asarray(data["kind"]), minlength=4)
        return [("", KIND_NAMES[EXACT], f"{counts[EXACT]:,}"),
                (f"Limits: Lower = {_limit_text(self.ll, '-', data.get('ll'))}",
                 KIND_NAMES[LEFT], f"{counts[LEFT]:,}"),
                (f"        Upper = {_limit_text(self.ul, '+', data.get('ul'))}", KIND_NAMES[RIGHT],
                 f"{counts[RIGHT]:,}")]

    def simulate(self, rng, eta, given, aux, categories=()):
        """Latent draws censored at each row's limits (values at a limit are censored)."""
        y = eta + np.sqrt(aux[0]) * rng.standard_normal(eta.shape)
        return np.clip(y, given["ll"], given["ul"])


@dataclass(frozen=True)
class IntervalRegression(_CensoredNormal):
    """Stata's ``meintreg lower upper``: equal bounds exact, a missing bound open.

    The response is the lower bound; ``upper`` names the upper bound's
    variable. Missing in both is no information: the row is dropped (counted).

    A fitted row's bounds stay with it as its censoring thresholds
    (``given["lower"]``, ``given["upper"]``), so a simulated or replacement
    response is a latent value seen through them: inside [a, b] it is that
    interval again, below a left-censored at a, above b right-censored at b
    (an open end never censors; exact rows stay exact). The fitted response,
    the lower bound itself, gives back the observed rows.
    """

    upper: str | None = None

    name: ClassVar[str] = "interval"
    titles: ClassVar[dict[str, str]] = {"identity": "Mixed-effects interval regression"}
    base_models: ClassVar[dict[str, str]] = {"identity": "interval model"}
    options: ClassVar[tuple[str, ...]] = ("upper",)
    depvars: ClassVar[int] = 2
    depvar_fields: ClassVar[tuple[str, ...]] = ("upper",)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.upper, str):
            raise SpecError("interval regression needs two outcome variables: the lower and "
                            "the upper bound (meintreg ylower yupper ..., or upper='yupper')")

    def columns(self) -> set[str]:
        return super().columns() | {self.upper}

    def missing_is_data(self, response):
        return {response, self.upper}

    def given_values(self, frame, n):
        if not frame.numeric[self.upper]:
            raise DataError(f"upper bound {self.upper!r} must be numeric")
        return {"upper": frame.values(self.upper)}

    def validate(self, y, given, response) -> ResponseRows:
        with np.errstate(invalid="ignore"):
            crossed = y > given["upper"]
        if np.any(crossed):
            raise DataError(f"{response} > {self.upper} in {int(crossed.sum())} observation(s) "
                            f"(first at row {int(np.argmax(crossed)) + 1}); the lower bound "
                            "must not exceed the upper bound")
        return ResponseRows(y, given={"lower": y})

    def response_rows(self, y, given, categories=()):
        a = np.broadcast_to(given.get("lower", y), y.shape)  # the row's thresholds
        b = np.broadcast_to(given["upper"], y.shape)
        has_a, has_b = np.isfinite(a), np.isfinite(b)
        with np.errstate(invalid="ignore"):
            valid = (has_a | has_b) & ~(a > b)
            exact = has_a & has_b & (a == b)
            value = np.where(np.isfinite(y), y, np.where(has_a, a, b))  # missing: in [a, b]
            below = has_a & (value < a)
            above = has_b & (value > b)
            kind = np.where(exact, EXACT, np.where(
                below, np.where(has_b, LEFT, EXACT), np.where(
                    above, np.where(has_a, RIGHT, EXACT), np.where(
                        has_a & has_b, INTERVAL, np.where(has_a, RIGHT, LEFT)))))
        # left-censored rows end at a when they fell below it, right-censored ones at b
        lower = np.where(exact | (kind == EXACT), value, np.where(above, b, a))
        upper = np.where(exact | (kind == EXACT), value, np.where(below, a, b))
        return _bounds_data(np.where(valid, value, 0.0), lower, upper, kind), valid

    def header_rows(self, data):
        counts = np.bincount(np.asarray(data["kind"]), minlength=4)
        return [("", KIND_NAMES[k], f"{counts[k]:,}") for k in (EXACT, LEFT, RIGHT, INTERVAL)]

    def simulate(self, rng, eta, given, aux, categories=()):
        """Latent draws y* = η + σε, which each row's own bounds censor when refitted
        (see the class); exact rows return y* itself."""
        return eta + np.sqrt(aux[0]) * rng.standard_normal(eta.shape)
