"""Outcome families: one final class per distribution (:mod:`mejax.families.base`).

:func:`make_family` reads the names users write (``"binomial"``, ``"logit"`` as
a link, ``"nbreg"``) and builds the family; nothing else maps names to classes.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Family, ResponseRows, eta_derivatives_autodiff
from .binomial import Binomial
from .censored import IntervalRegression, Tobit
from .counts import NegativeBinomial, Poisson
from .gaussian import Gaussian
from .ordinal import Ordinal
from .survival import SURVIVAL_ALIASES, SURVIVAL_FAMILIES, Survival

FAMILIES: dict[str, type[Family]] = {
    "binomial": Binomial, "poisson": Poisson, "nbinomial": NegativeBinomial, "ordinal": Ordinal,
    "gaussian": Gaussian,
    "tobit": Tobit, "interval": IntervalRegression, **SURVIVAL_FAMILIES,
}
ALIASES = {
    "binomial": "binomial", "bernoulli": "binomial", "binary": "binomial",
    "poisson": "poisson", "nbinomial": "nbinomial", "negative binomial": "nbinomial",
    "nbreg": "nbinomial", "negbin": "nbinomial", "ordinal": "ordinal", "ologit": "ordinal",
    "gaussian": "gaussian", "normal": "gaussian",
    "tobit": "tobit", "censored": "tobit", "interval": "interval", "intreg": "interval",
    **SURVIVAL_ALIASES,
}

__all__ = ["Family", "ResponseRows", "Binomial", "Poisson", "NegativeBinomial", "Ordinal",
           "Gaussian", "Tobit", "IntervalRegression", "Survival", "FAMILIES",
           "SURVIVAL_ALIASES", "family_of_link", "make_family", "eta_derivatives_autodiff"]


def family_of_link(link: str) -> str | None:
    """The first family that offers ``link`` (for messages when a link is given as a family)."""
    key = str(link).strip().lower()
    return next((name for name, cls in FAMILIES.items() if key in cls.links), None)


def make_family(family: str, link: str | None = None, *, trials=None, offset=None,
                exposure=None, dispersion: str | None = None,
                option_names: dict[str, str] | None = None, **fields) -> Family:
    """Validate names and combinations and build the family.

    ``option_names`` names the options as the caller's front end spells them
    (Stata's ``binomial()`` for ``trials``) in error messages; ``fields`` are
    the family's own (tobit's ``ll``/``ul``, a survival family's ``failure``).
    """
    spelled = {"trials": "trials", "dispersion": "dispersion", **(option_names or {})}
    key = str(family).strip().lower()
    if key not in ALIASES:
        owner = family_of_link(key)
        hint = f" ({key!r} is a link: use family={owner!r}, link={key!r})" if owner else ""
        raise SpecError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}{hint}")
    cls = FAMILIES[ALIASES[key]]
    for option, value in fields.items():
        if value is not None and option not in cls.options:
            raise SpecError(f"option {spelled.get(option, option)} is not allowed with the "
                            f"{cls.name} family")
    link = cls.links[0] if link is None else str(link).strip().lower()
    options = {"link": link, "offset": offset, "exposure": exposure,
               **{k: v for k, v in fields.items() if v is not None}}
    for option, value in (("trials", trials), ("dispersion", dispersion)):
        if value is None or (option == "dispersion" and value == "mean"
                             and option not in cls.options):  # the default: harmless
            continue
        if option not in cls.options:
            raise SpecError(f"option {spelled[option]} is not allowed with the {cls.name} "
                            "family")
        options[option] = str(value).strip().lower() if option == "dispersion" else value
    return cls(**options)
