"""Stata's me* commands as outcome families (host side).

``melogit`` is a binomial family with a logit link, ``menbreg`` a negative
binomial; the families themselves live in :mod:`mejax.families`.
"""

from __future__ import annotations

from ..families import FAMILIES, SURVIVAL_ALIASES, Family, make_family

__all__ = ["COMMANDS", "FAMILIES", "SURVIVAL_ALIASES", "Family", "make_family"]

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
    "metobit": ("tobit", "identity"),
    "meintreg": ("interval", "identity"),
    "mestreg": (None, None),  # the family is the distribution() option
}
