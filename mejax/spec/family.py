"""Response distribution and link of a generalized linear mixed model (host side).

A :class:`Family` says how the outcome is distributed given the linear
predictor, and which columns feed it (binomial trials, offset, exposure).
The Stata commands map onto families: ``melogit`` is Bernoulli/binomial with
a logit link, ``menbreg`` negative binomial with mean or constant dispersion.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import SpecError

FAMILY_LINKS = {
    "binomial": ("logit", "probit", "cloglog"),
    "poisson": ("log",),
    "nbinomial": ("log",),
    "ordinal": ("logit", "probit"),
}
FAMILY_ALIASES = {
    "binomial": "binomial", "bernoulli": "binomial", "binary": "binomial",
    "poisson": "poisson", "nbinomial": "nbinomial", "negative binomial": "nbinomial",
    "nbreg": "nbinomial", "negbin": "nbinomial", "ordinal": "ordinal", "ologit": "ordinal",
}
DEFAULT_LINK = {"binomial": "logit", "poisson": "log", "nbinomial": "log", "ordinal": "logit"}

# Stata command -> (family, link)
COMMANDS = {
    "melogit": ("binomial", "logit"),
    "meqrlogit": ("binomial", "logit"),
    "meprobit": ("binomial", "probit"),
    "mecloglog": ("binomial", "cloglog"),
    "meologit": ("ordinal", "logit"),
    "meoprobit": ("ordinal", "probit"),
    "mepoisson": ("poisson", "log"),
    "meqrpoisson": ("poisson", "log"),
    "menbreg": ("nbinomial", "log"),
}

TITLES = {
    ("binomial", "logit"): "Mixed-effects logistic regression",
    ("binomial", "probit"): "Mixed-effects probit regression",
    ("binomial", "cloglog"): "Mixed-effects cloglog regression",
    ("ordinal", "logit"): "Mixed-effects ologit regression",
    ("ordinal", "probit"): "Mixed-effects oprobit regression",
    ("poisson", "log"): "Mixed-effects Poisson regression",
    ("nbinomial", "log"): "Mixed-effects nbinomial regression",
}
# what the LR test compares against, as Stata words it
BASE_MODEL = {
    ("binomial", "logit"): "logistic model", ("binomial", "probit"): "probit model",
    ("binomial", "cloglog"): "cloglog model", ("ordinal", "logit"): "ologit model",
    ("ordinal", "probit"): "oprobit model", ("poisson", "log"): "Poisson model",
    ("nbinomial", "log"): "nbinomial model",
}


@dataclass(frozen=True)
class Family:
    """Outcome distribution, link and the columns that feed it.

    ``trials`` is a column name or a positive integer (binomial only; None for
    Bernoulli). ``offset`` enters the linear predictor with coefficient one;
    ``exposure`` enters as its log. ``dispersion`` is "mean" (Var = μ(1+αμ))
    or "constant" (Var = μ(1+δ)) for the negative binomial.
    """

    name: str
    link: str
    trials: str | int | None = None
    offset: str | None = None
    exposure: str | None = None
    dispersion: str = "mean"

    def columns(self) -> set[str]:
        """Data columns the family reads (besides the response)."""
        names = {self.offset, self.exposure}
        if isinstance(self.trials, str):
            names.add(self.trials)
        return {n for n in names if n}

    @property
    def title(self) -> str:
        return TITLES[(self.name, self.link)]

    @property
    def base_model(self) -> str:
        return BASE_MODEL[(self.name, self.link)]


def make_family(family: str, link: str | None = None, *, trials=None, offset=None,
                exposure=None, dispersion: str = "mean") -> Family:
    """Validate names and combinations and build a :class:`Family`."""
    key = str(family).strip().lower()
    if key not in FAMILY_ALIASES:
        raise SpecError(f"unknown family {family!r}; use one of {', '.join(FAMILY_LINKS)}")
    name = FAMILY_ALIASES[key]
    link = DEFAULT_LINK[name] if link is None else str(link).strip().lower()
    if link not in FAMILY_LINKS[name]:
        raise SpecError(f"link {link!r} is not available for the {name} family; use "
                        f"{' or '.join(FAMILY_LINKS[name])}")
    if trials is not None and name != "binomial":
        raise SpecError("trials (binomial()) applies to the binomial family only")
    if isinstance(trials, bool) or (isinstance(trials, (int, float)) and not isinstance(
            trials, str) and (trials < 1 or int(trials) != trials)):
        raise SpecError(f"binomial trials must be a column name or a positive integer, got "
                        f"{trials!r}")
    if isinstance(trials, float):
        trials = int(trials)
    if offset is not None and exposure is not None:
        raise SpecError("offset() and exposure() cannot be combined")
    if exposure is not None and name not in ("poisson", "nbinomial"):
        raise SpecError("exposure() applies to Poisson and negative binomial models")
    dispersion = str(dispersion).strip().lower()
    if dispersion not in ("mean", "constant"):
        raise SpecError(f"dispersion({dispersion}) must be mean or constant")
    return Family(name, link, trials, offset, exposure, dispersion)
