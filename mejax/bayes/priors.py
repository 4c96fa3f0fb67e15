"""Prior distributions with Stata's spellings and parameterisations (``normal(0, 10000)``).

Each prior is a frozen dataclass: its arguments are checked when it is built
(:class:`mejax.errors.SpecError` naming the bad argument), ``log_density`` is
pure and traced, ``support`` says what kind of parameter it fits and
``proper`` whether it integrates to one. Stata's conventions hold: ``normal``,
``lognormal`` and ``t`` take a variance, ``igamma`` and ``gamma`` a shape and a
scale, ``exponential`` its mean. :func:`parse_prior` reads Stata's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, multigammaln
from scipy import special, stats

from ..errors import SpecError

LOG_2PI = float(np.log(2 * np.pi))


def _positive(prior: str, **values) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value <= 0:
            raise SpecError(f"{prior}(): {name} must be a positive number, got {value:g}")


def _finite(prior: str, **values) -> None:
    for name, value in values.items():
        if not np.isfinite(value):
            raise SpecError(f"{prior}(): {name} must be a finite number, got {value:g}")


@dataclass(frozen=True)
class Prior:
    """A prior on one scalar parameter (or, for matrix priors, one covariance matrix)."""

    name: ClassVar[str]
    support: ClassVar[str] = "real"  # "real", "positive", "interval" or "matrix"
    proper: ClassVar[bool] = True

    def log_density(self, x):
        raise NotImplementedError

    def text(self) -> str:
        """Stata's spelling, for the model summary."""
        raise NotImplementedError

    def scipy(self):
        """The same distribution as a frozen scipy.stats one (host side; proper priors only)."""
        raise SpecError(f"prior {self.text()} cannot be simulated")

    def sample(self, rng: np.random.Generator, size) -> np.ndarray:
        """Draws from the prior (simulation-based calibration, prior predictive checks)."""
        return self.scipy().rvs(size=size, random_state=rng)

    def fits(self, kind: str) -> bool:
        """Whether the prior can sit on a parameter of ``kind`` ("real", "positive", "matrix")."""
        if self.support == "matrix" or kind == "matrix":
            return self.support == kind
        return self.support == "real" or kind == "positive" or (
            self.support == "interval")


def _g(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Normal(Prior):
    mean: float
    var: float
    name: ClassVar[str] = "normal"

    def __post_init__(self):
        _finite("normal", mean=self.mean)
        _positive("normal", variance=self.var)

    def log_density(self, x):
        return -0.5 * (LOG_2PI + jnp.log(self.var) + (x - self.mean) ** 2 / self.var)

    def scipy(self):
        return stats.norm(self.mean, np.sqrt(self.var))

    def text(self):
        return f"normal({_g(self.mean)},{_g(self.var)})"


@dataclass(frozen=True)
class StudentT(Prior):
    mean: float
    var: float  # squared scale, as Stata's t(mu, sigma2, df)
    df: float
    name: ClassVar[str] = "t"

    def __post_init__(self):
        _finite("t", mean=self.mean)
        _positive("t", sigma2=self.var, df=self.df)

    def log_density(self, x):
        nu, z2 = self.df, (x - self.mean) ** 2 / self.var
        return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * np.pi * self.var)
                - (nu + 1) / 2 * jnp.log1p(z2 / nu))

    def scipy(self):
        return stats.t(self.df, self.mean, np.sqrt(self.var))

    def text(self):
        return f"t({_g(self.mean)},{_g(self.var)},{_g(self.df)})"


@dataclass(frozen=True)
class Cauchy(Prior):
    loc: float
    scale: float
    name: ClassVar[str] = "cauchy"

    def __post_init__(self):
        _finite("cauchy", location=self.loc)
        _positive("cauchy", scale=self.scale)

    def log_density(self, x):
        return -jnp.log(np.pi * self.scale) - jnp.log1p(((x - self.loc) / self.scale) ** 2)

    def scipy(self):
        return stats.cauchy(self.loc, self.scale)

    def text(self):
        return f"cauchy({_g(self.loc)},{_g(self.scale)})"


@dataclass(frozen=True)
class Uniform(Prior):
    lower: float
    upper: float
    name: ClassVar[str] = "uniform"
    support: ClassVar[str] = "interval"

    def __post_init__(self):
        _finite("uniform", lower=self.lower, upper=self.upper)
        if not self.lower < self.upper:
            raise SpecError(f"uniform({_g(self.lower)},{_g(self.upper)}): the lower bound must "
                            "be below the upper bound")

    def fits(self, kind):
        return kind == "real" or (kind == "positive" and self.lower >= 0)

    def log_density(self, x):
        inside = (x >= self.lower) & (x <= self.upper)
        return jnp.where(inside, -np.log(self.upper - self.lower), -jnp.inf)

    def scipy(self):
        return stats.uniform(self.lower, self.upper - self.lower)

    def text(self):
        return f"uniform({_g(self.lower)},{_g(self.upper)})"


@dataclass(frozen=True)
class InverseGamma(Prior):
    shape: float
    scale: float
    name: ClassVar[str] = "igamma"
    support: ClassVar[str] = "positive"

    def __post_init__(self):
        _positive("igamma", shape=self.shape, scale=self.scale)

    def log_density(self, x):
        a, b = self.shape, self.scale
        return a * np.log(b) - gammaln(a) - (a + 1) * jnp.log(x) - b / x

    def scipy(self):
        return stats.invgamma(self.shape, scale=self.scale)

    def text(self):
        return f"igamma({_g(self.shape)},{_g(self.scale)})"


@dataclass(frozen=True)
class Gamma(Prior):
    shape: float
    scale: float
    name: ClassVar[str] = "gamma"
    support: ClassVar[str] = "positive"

    def __post_init__(self):
        _positive("gamma", shape=self.shape, scale=self.scale)

    def log_density(self, x):
        a, b = self.shape, self.scale
        return -gammaln(a) - a * np.log(b) + (a - 1) * jnp.log(x) - x / b

    def scipy(self):
        return stats.gamma(self.shape, scale=self.scale)

    def text(self):
        return f"gamma({_g(self.shape)},{_g(self.scale)})"


@dataclass(frozen=True)
class Exponential(Prior):
    mean: float
    name: ClassVar[str] = "exponential"
    support: ClassVar[str] = "positive"

    def __post_init__(self):
        _positive("exponential", mean=self.mean)

    def log_density(self, x):
        return -np.log(self.mean) - x / self.mean

    def scipy(self):
        return stats.expon(scale=self.mean)

    def text(self):
        return f"exponential({_g(self.mean)})"


@dataclass(frozen=True)
class LogNormal(Prior):
    mean: float  # of log x
    var: float  # of log x
    name: ClassVar[str] = "lognormal"
    support: ClassVar[str] = "positive"

    def __post_init__(self):
        _finite("lognormal", mean=self.mean)
        _positive("lognormal", variance=self.var)

    def log_density(self, x):
        lx = jnp.log(x)
        return -0.5 * (LOG_2PI + np.log(self.var) + (lx - self.mean) ** 2 / self.var) - lx

    def scipy(self):
        return stats.lognorm(np.sqrt(self.var), scale=np.exp(self.mean))

    def text(self):
        return f"lognormal({_g(self.mean)},{_g(self.var)})"


@dataclass(frozen=True)
class Flat(Prior):
    """The improper flat prior p(x) = 1 (Stata's ``flat``)."""

    name: ClassVar[str] = "flat"
    proper: ClassVar[bool] = False

    def log_density(self, x):
        return jnp.zeros_like(x)

    def text(self):
        return "1 (flat)"


@dataclass(frozen=True)
class Jeffreys(Prior):
    """The improper p(σ²) ∝ 1/σ² (Stata's ``jeffreys``), for variances."""

    name: ClassVar[str] = "jeffreys"
    support: ClassVar[str] = "positive"
    proper: ClassVar[bool] = False

    def log_density(self, x):
        return -jnp.log(x)

    def text(self):
        return "jeffreys"


@dataclass(frozen=True)
class InverseWishart(Prior):
    """Inverse Wishart(df, S) on a d×d covariance matrix; ``scale`` None is the identity."""

    df: float
    dim: int
    scale: tuple = field(default=())  # rows of S; () for the identity
    name: ClassVar[str] = "iwishart"
    support: ClassVar[str] = "matrix"

    def __post_init__(self):
        if not isinstance(self.dim, (int, np.integer)) or self.dim < 1:
            raise SpecError(f"iwishart(): the dimension must be a positive integer, got "
                            f"{self.dim!r}")
        if not np.isfinite(self.df) or self.df <= self.dim - 1:
            raise SpecError(f"iwishart({_g(self.df)}, ...): the degrees of freedom must exceed "
                            f"the dimension minus one ({self.dim - 1})")
        s = self.scale_matrix()
        if s.shape != (self.dim, self.dim) or not np.allclose(s, s.T):
            raise SpecError(f"iwishart(): the scale matrix must be a symmetric {self.dim}×"
                            f"{self.dim} matrix")
        if np.linalg.eigvalsh(s).min() <= 0:
            raise SpecError("iwishart(): the scale matrix must be positive definite")

    def scale_matrix(self) -> np.ndarray:
        return np.eye(self.dim) if not self.scale else np.asarray(self.scale, dtype=float)

    def fits_dim(self, dim: int) -> bool:
        return dim == self.dim

    def log_density(self, sigma):
        d, nu, s = self.dim, self.df, self.scale_matrix()
        chol = jnp.linalg.cholesky(sigma)
        logdet = 2 * jnp.sum(jnp.log(jnp.diag(chol)))
        inv_s = jnp.linalg.solve(sigma, jnp.asarray(s))
        return (0.5 * nu * np.linalg.slogdet(s)[1] - 0.5 * nu * d * np.log(2)
                - multigammaln(nu / 2, d) - 0.5 * (nu + d + 1) * logdet - 0.5 * jnp.trace(inv_s))

    def scipy(self):
        return stats.invwishart(self.df, self.scale_matrix())

    def text(self):
        scale = f"I({self.dim})" if not self.scale else "S"
        return f"iwishart({_g(self.df)},{scale})"


@dataclass(frozen=True)
class LKJ(Prior):
    """LKJ(η) on the correlation matrix R of Σ = D R D, ``variance`` on each diagonal entry.

    The density on Σ (what the sampler sees) is LKJ(R; η) Π p(Σ_ii) Π Σ_ii^{-(d-1)/2},
    the last factor the Jacobian of Σ -> (diag Σ, R). η = 1 is uniform over
    correlation matrices; larger η pulls them towards the identity.
    """

    eta: float
    variance: Prior | None = None  # None: the model's default variance prior (igammaprior())
    name: ClassVar[str] = "lkj"
    support: ClassVar[str] = "matrix"

    def __post_init__(self):
        _positive("lkj", eta=self.eta)
        if self.variance is not None and not (self.variance.support in ("positive", "interval")
                                              and self.variance.fits("positive")):
            raise SpecError(f"lkj(): the prior of the variances, {self.variance.text()}, must "
                            "be a prior for a positive parameter such as igamma(0.01, 0.01)")

    def fits_dim(self, dim: int) -> bool:
        return dim >= 1

    def log_normaliser(self, dim: int) -> float:
        """log ∫ det(R)^(η−1) dR over d×d correlation matrices (Lewandowski et al. 2009)."""
        total = 0.0
        for k in range(1, dim):
            m = dim - k
            a = self.eta + (m - 1) / 2
            total += (2 * self.eta - 2 + m) * m * np.log(2) + m * float(special.betaln(a, a))
        return total

    def log_density(self, sigma):
        dim = sigma.shape[0]
        var = jnp.diag(sigma)
        sd = jnp.sqrt(var)
        corr = sigma / (sd[:, None] * sd[None, :])
        logdet = 2 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(corr))))
        return ((self.eta - 1) * logdet - self.log_normaliser(dim)
                + jnp.sum(self.variance_prior.log_density(var))
                - 0.5 * (dim - 1) * jnp.sum(jnp.log(var)))

    @property
    def variance_prior(self) -> Prior:
        return InverseGamma(0.01, 0.01) if self.variance is None else self.variance

    def text(self):
        variance = "" if self.variance is None else f",{self.variance.text()}"
        return f"lkj({_g(self.eta)}{variance})"


# Stata's spelling -> (class, number of numeric arguments)
_SCALAR = {"normal": (Normal, 2), "t": (StudentT, 3), "cauchy": (Cauchy, 2),
           "uniform": (Uniform, 2), "igamma": (InverseGamma, 2), "gamma": (Gamma, 2),
           "exponential": (Exponential, 1), "lognormal": (LogNormal, 2), "flat": (Flat, 0),
           "jeffreys": (Jeffreys, 0)}
PRIOR_NAMES = (*_SCALAR, "iwishart", "lkj")


def parse_prior(text: str) -> Prior:
    """Stata's ``normal(0,100)``, ``igamma(0.01, 0.01)``, ``iwishart(3, I(2))``, ``flat``."""
    spelled = " ".join(str(text).split())
    m = re.fullmatch(r"([A-Za-z]+)\s*(?:\((.*)\))?", spelled)
    if not m:
        raise SpecError(f"cannot read prior {spelled!r}; write e.g. normal(0, 100) or "
                        "igamma(0.01, 0.01)")
    name, body = m.group(1).lower(), m.group(2)
    if name == "iwishart":
        return _parse_iwishart(body or "", spelled)
    if name == "lkj":
        return _parse_lkj(body or "", spelled)
    if name not in _SCALAR:
        raise SpecError(f"unknown prior distribution {name!r}; use one of "
                        f"{', '.join(PRIOR_NAMES)}")
    cls, n_args = _SCALAR[name]
    args = [a.strip() for a in body.split(",")] if body and body.strip() else []
    if len(args) != n_args:
        raise SpecError(f"{name}() takes {n_args} argument{'s' * (n_args != 1)}, got "
                        f"{len(args)} in {spelled!r}")
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise SpecError(f"the arguments of {spelled!r} must be numbers") from None
    return cls(*values)


def _parse_iwishart(body: str, spelled: str) -> InverseWishart:
    m = re.fullmatch(r"\s*([^,]+?)\s*,\s*I\(\s*(\d+)\s*\)\s*", body)
    if not m:
        raise SpecError(f"cannot read {spelled!r}; write iwishart(df, I(d)) (a general scale "
                        "matrix is given in Python: InverseWishart(df, d, scale=S))")
    try:
        df = float(m.group(1))
    except ValueError:
        raise SpecError(f"the degrees of freedom of {spelled!r} must be a number") from None
    return InverseWishart(df, int(m.group(2)))


def _parse_lkj(body: str, spelled: str) -> LKJ:
    """``lkj(eta)``, or ``lkj(eta, igamma(a, b))`` naming the variances' prior."""
    eta, _, variance = body.partition(",")
    try:
        value = float(eta)
    except ValueError:
        raise SpecError(f"cannot read {spelled!r}; write lkj(eta) with eta > 0, or "
                        "lkj(eta, igamma(0.01, 0.01)) to name the variances' prior") from None
    return LKJ(value, parse_prior(variance)) if variance.strip() else LKJ(value)


def as_prior(value) -> Prior:
    """A :class:`Prior` from a prior object or Stata's text."""
    if isinstance(value, Prior):
        return value
    if isinstance(value, str):
        return parse_prior(value)
    raise SpecError(f"a prior must be a string such as 'normal(0, 100)' or a mejax prior, got "
                    f"{type(value).__name__}")
