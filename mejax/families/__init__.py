"""Outcome families: one final class per distribution (:mod:`mejax.families.base`).

:func:`make_family` reads the names users write (``"binomial"``, ``"logit"`` as
a link, ``"nbreg"``) and builds the family; nothing else maps names to classes.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Family, ResponseRows, eta_derivatives_autodiff
from .binomial import Binomial
from .counts import NegativeBinomial, Poisson
from .gaussian import Gaussian
from .ordinal import Ordinal

FAMILIES: dict[str, type[Family]] = {
    "binomial": Binomial, "poisson": Poisson, "nbinomial": NegativeBinomial, "ordinal": Ordinal,
    "gaussian": Gaussian,
}
ALIASES = {
    "binomial": "binomial", "bernoulli": "binomial", "binary": "binomial",
    "poisson": "poisson", "nbinomial": "nbinomial", "negative binomial": "nbinomial",
    "nbreg": "nbinomial", "negbin": "nbinomial", "ordinal": "ordinal", "ologit": "ordinal",
    "gaussian": "gaussian", "normal": "gaussian",
}

__all__ = ["Family", "ResponseRows", "Binomial", "Poisson", "NegativeBinomial", "Ordinal",
           "Gaussian", "FAMILIES", "family_of_link", "make_family", "eta_derivatives_autodiff"]


def family_of_link(link: str) -> str | None:
    """The first family that offers ``link`` (for messages when a link is given as a family)."""
    key = str(link).strip().lower()
    return next((name for name, cls in FAMILIES.items() if key in cls.links), None)


def make_family(family: str, link: str | None = None, *, trials=None, offset=None,
                exposure=None, dispersion: str | None = None,
                option_names: dict[str, str] | None = None) -> Family:
    """Validate names and combinations and build the family.

    ``option_names`` names the options as the caller's front end spells them
    (Stata's ``binomial()`` for ``trials``) in error messages.
    """
    spelled = {"trials": "trials", "dispersion": "dispersion", **(option_names or {})}
    key = str(family).strip().lower()
    if key not in ALIASES:
        owner = family_of_link(key)
        hint = f" ({key!r} is a link: use family={owner!r}, link={key!r})" if owner else ""
        raise SpecError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}{hint}")
    cls = FAMILIES[ALIASES[key]]
    link = cls.links[0] if link is None else str(link).strip().lower()
    options = {"link": link, "offset": offset, "exposure": exposure}
    for option, value in (("trials", trials), ("dispersion", dispersion)):
        if value is None or (option == "dispersion" and value == "mean"
                             and option not in cls.options):  # the default: harmless
            continue
        if option not in cls.options:
            raise SpecError(f"option {spelled[option]} is not allowed with the {cls.name} "
                            "family")
        options[option] = str(value).strip().lower() if option == "dispersion" else value
    return cls(**options)
