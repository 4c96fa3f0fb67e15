"""Stata ``mixed`` command lines.

``mixed depvar [indepvars] [, fe_options] || levelvar: [varlist] [, re_options] || ... [, options]``

Factor-variable notation ``i.a``, ``ib2.a``, ``ib(last).a``, ``ibn.a``,
``c.x``, ``a#b``, ``a##b``; crossed effects ``|| _all: R.grp``; Stata's
defaults (independent covariance for random coefficients, base level = lowest
value, ``_cons`` last).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import combinations

from ..cov.structures import canonical_covariance
from ..families.survival import stata_distribution
from .family import COMMANDS as GLMM_COMMANDS
from .family import FAMILIES, make_family
from .formula import split_top, split_words
from .model import LinearPart, ModelSpec, RandomPart, SpecError, Term, Var
from .residuals import parse_rspec
from .survival import ST_RESPONSE

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FACTOR = re.compile(
    r"^(?P<op>i|ib\((?P<bp>first|last|freq)\)|ibn|ib(?P<bn>-?\d+)|c)"
    r"\.(?P<var>[A-Za-z_][A-Za-z0-9_]*)$"
)

SUPPORTED_COMMANDS = {"mixed", "xtmixed"}

# option name -> (minimum abbreviation, takes argument)
# what every estimation command accepts: the constant and how results are shown
COMMON_OPTIONS = {
    "noconstant": ("nocons", False),
    "allbaselevels": ("allbase", False),
    "baselevels": ("baselevels", False),
    "noomitted": ("noomit", False),
    "level": ("l", True),
    "variance": ("var", False),
    "stddeviations": ("stddev", False),
    "nolog": ("nolog", False),
    "log": ("log", False),
    "noretable": ("noreta", False),
    "nofetable": ("nofet", False),
    "noheader": ("noheader", False),
    "nogroup": ("nogr", False),
    "nolrtest": ("nolr", False),
}
GLOBAL_OPTIONS = {
    "reml": ("reml", False),
    "mle": ("ml", False),
    **COMMON_OPTIONS,
    "dfmethod": ("dfm", True),
    "pwscale": ("pwscale", True),
    "vce": ("vce", True),
}
# me* commands (melogit, mepoisson, ...): the family, integration and eform options
GLMM_OPTIONS = {
    **COMMON_OPTIONS,
    "binomial": ("binomial", True),
    "exposure": ("exposure", True),
    "offset": ("offset", True),
    "dispersion": ("dispersion", True),
    "intmethod": ("intm", True),
    "intpoints": ("intp", True),
    "laplace": ("laplace", False),
    "or": ("or", False),
    "irr": ("irr", False),
    "eform": ("eform", False),
    "pwscale": ("pwscale", True),
    "vce": ("vce", True),
    "ll": ("ll", None),  # None: the argument is optional (bare ll: the depvar's minimum)
    "ul": ("ul", None),
    "distribution": ("dist", True),
    "time": ("time", False),
    "nohr": ("nohr", False),
    "tratio": ("tr", False),
}
LEVEL_OPTIONS = {
    "covariance": ("cov", True),
    "noconstant": ("nocons", False),
    "residuals": ("res", True),
    "pweight": ("pw", True),
}
UNSUPPORTED = {
    "fweight": "frequency weights are not supported; mejax takes sampling weights, "
               "[pw=] and pweight()",
}
# Stata's estimation options that mejax knows but does not offer: name -> (abbreviation, why)
NOT_OFFERED = {
    "coeflegend": ("coefl", "the coefficient legend is not available"),
}
# maximisation options: accepted and ignored (mejax's optimiser has its own stopping rules)
MAXIMIZE_OPTIONS = {
    "iterate": "iter", "tolerance": "tol", "ltolerance": "ltol", "nrtolerance": "nrtol",
    "nonrtolerance": "nonrtol", "technique": "tech", "difficult": "dif", "from": "from",
    "showstep": "showstep", "shownrtolerance": "shownr", "trace": "trace",
    "gradient": "grad", "hessian": "hess", "emiterate": "emiter", "emtolerance": "emtol",
    "emonly": "emonly", "emlog": "emlog", "emdots": "emdots", "matsqrt": "matsqrt",
    "matlog": "matlog", "startvalues": "startv", "startgrid": "startg", "noestimate": "noest",
    "dnumerical": "dnum",
}


def _match_option(name: str, table: dict) -> str | None:
    for full, (minimum, _) in table.items():
        if full.startswith(name) and name.startswith(minimum):
            return full
    return None


def _not_here(name: str, token: str, cmd: str | None) -> str | None:
    """Why a known option of another command is not allowed with ``cmd``, with the fix."""
    if cmd is None:
        return None
    glmm = cmd in GLMM_COMMANDS
    other = GLOBAL_OPTIONS if glmm else GLMM_OPTIONS
    full = _match_option(name, other)
    if full is None or full in COMMON_OPTIONS:
        return None
    if glmm and full in ("reml", "mle", "dfmethod"):
        return (f"option {token} is not an option of {cmd}: REML and dfmethod() are for linear "
                f"models (mixed); {cmd} fits by maximum likelihood")
    return (f"option {token} is not an option of {cmd}; it belongs to the me* commands "
            f"(melogit, mepoisson, ...): e.g. melogit y x || id:, {token}")


def _stata_option(name: str, token: str, cmd: str) -> bool:
    """True for a maximisation option (ignored); raises for one mejax does not offer."""
    for full, (minimum, why) in NOT_OFFERED.items():
        if full.startswith(name) and name.startswith(minimum):
            raise SpecError(f"option {token} of {cmd} is not supported: {why}")
    return any(full.startswith(name) and name.startswith(minimum)
               for full, minimum in MAXIMIZE_OPTIONS.items())


def _parse_options(text: str, table: dict, where: str, cmd: str | None = None) -> dict:
    """Parse ``opt opt(arg) ...`` against ``table``; unknown ones raise."""
    options: dict = {}
    for token in _option_tokens(text):
        m = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?", token, flags=re.S)
        if not m:
            raise SpecError(f"cannot parse option {token!r} in {where}")
        name, arg = m.group(1).lower(), m.group(2)
        for bad, why in UNSUPPORTED.items():
            if bad.startswith(name) and len(name) >= 3:
                raise SpecError(f"option {token!r}: {why}")
        full = _match_option(name, table)
        if full is None and cmd is not None and _stata_option(name, token, cmd):
            options.setdefault("ignored", []).append(token)
            continue
        if full is None:
            raise SpecError(_not_here(name, token, cmd) or f"unknown option {token!r} in {where}")
        takes_arg = table[full][1]
        if takes_arg is True and arg is None:
            raise SpecError(f"option {name}() needs an argument")
        if takes_arg is False and arg is not None:
            raise SpecError(f"option {name} takes no argument")
        options[full] = arg.strip() if arg is not None else True
    return options


def _option_tokens(text: str) -> list[str]:
    tokens, depth = split_words(text)
    if depth != 0:
        raise SpecError(f"unbalanced parentheses in options {text!r}")
    return tokens


def _parse_factor_var(token: str) -> Var:
    m = _FACTOR.match(token)
    if m:
        op = m.group("op")
        if op == "c":
            return Var(m.group("var"), kind="num")
        if op == "i":
            return Var(m.group("var"), kind="cat")
        if op == "ibn":
            return Var(m.group("var"), kind="cat", base="none")
        if m.group("bp"):
            return Var(m.group("var"), kind="cat", base=m.group("bp"))
        return Var(m.group("var"), kind="cat", base=int(m.group("bn")))
    if _NAME.match(token):
        return Var(token, kind="num")
    raise SpecError(f"cannot parse variable {token!r}")


def _parse_varlist(tokens: list[str]) -> list[Term]:
    terms: list[Term] = []
    for token in tokens:
        if "##" in token:
            groups = [_parse_factor_var(t) for t in token.split("##")]
            combos = [c for size in range(1, len(groups) + 1) for c in combinations(groups, size)]
        else:
            combos = [tuple(_parse_factor_var(t) for t in token.split("#"))]
        for combo in combos:
            names = [v.name for v in combo]
            if len(set(names)) < len(names):
                raise SpecError(
                    f"{token!r} repeats a variable within an interaction; squared terms such as "
                    "c.x#c.x are not supported yet: add the squared variable to the data"
                )
            term = Term(tuple(combo))
            if term.key() not in {t.key() for t in terms}:
                terms.append(term)
    return terms


def _split_level(piece: str) -> tuple[str, str, str]:
    """'id: x1 x2, opts' -> ('id', 'x1 x2', 'opts'); the colon is required, as in Stata."""
    body, _, opts = piece.partition(",")
    if ":" not in body:
        words = body.split()
        fix = f"'|| {words[0]}:'" if words else "'|| levelvar:'"
        raise SpecError(f"random-effects equation '|| {piece.strip()}' needs a colon after the "
                        f"level variable: write {fix}")
    level, _, varlist = body.partition(":")
    return level.strip(), varlist.strip(), opts.strip()


@lru_cache(maxsize=256)
def parse_stata(command: str) -> ModelSpec:
    """Parse a Stata ``mixed`` command line into a :class:`ModelSpec`."""
    text = " ".join(command.strip().split())
    if not text:
        raise SpecError("empty Stata command")
    cmd = text.split()[0]
    if cmd not in SUPPORTED_COMMANDS and cmd not in GLMM_COMMANDS:
        raise SpecError(f"unknown or unsupported Stata command {cmd!r}; supported: mixed, "
                        f"{', '.join(GLMM_COMMANDS)}")
    is_glmm = cmd in GLMM_COMMANDS
    _check_bars(text)
    global_table = GLMM_OPTIONS if is_glmm else GLOBAL_OPTIONS
    pieces = [p for _, p in split_top(text[len(cmd):], ("||",))]
    fixed_text, _, fixed_opts = pieces[0].partition(",")
    tokens = fixed_text.split()
    depvars = _depvar_count(cmd)
    if len(tokens) < depvars:
        what = ("a dependent variable" if depvars == 1
                else "two dependent variables (the lower and upper bounds)")
        raise SpecError(f"{cmd} needs {what}")
    for name in tokens[:depvars]:
        if not _NAME.match(name):
            raise SpecError(f"dependent variable {name!r} must be a variable name")
    response = tokens[0] if depvars else ST_RESPONSE
    options = _parse_options(fixed_opts, global_table, "the fixed-effects equation", cmd)
    fixed = LinearPart(not options.pop("noconstant", False),
                       tuple(_parse_varlist(tokens[depvars:])))

    random: list[RandomPart] = []
    chain: list[str] = []
    residuals = None
    for index, piece in enumerate(pieces[1:], start=1):
        level, varlist, opts = _split_level(piece)
        is_last = index == len(pieces) - 1
        table = {**LEVEL_OPTIONS, **global_table} if is_last else LEVEL_OPTIONS
        where = (f"random-effects equation {level!r} or among {cmd}'s options" if is_last
                 else f"random-effects equation {level!r}")
        level_opts = _parse_options(opts, table, where, cmd if is_last else None)
        if is_last:
            for key in list(level_opts):
                if key == "ignored":
                    options.setdefault("ignored", []).extend(level_opts.pop(key))
                elif key in global_table and key not in LEVEL_OPTIONS:
                    options[key] = level_opts.pop(key)
        if "pweight" in level_opts:
            options.setdefault("level_weights", {})[level] = level_opts.pop("pweight")
        if "residuals" in level_opts:
            if not is_last:
                raise SpecError("residuals() belongs to the last (lowest) random-effects equation")
            if level == "_all":
                raise SpecError("residuals() needs a grouping level, not '_all:'")
            residuals = parse_rspec(level_opts.pop("residuals"))
        random.append(_random_part(level, varlist.split(), level_opts, chain,
                                   allow_empty=residuals is not None))
    _check_level_option(options)
    if options.get("reml") and options.get("mle"):
        raise SpecError("options reml and mle cannot be combined")
    family = None
    if is_glmm:
        if residuals is not None:
            raise SpecError(f"residuals() is an option of mixed, not of {cmd}")
        family = _glmm_family(cmd, options, tokens[1:depvars])
    return ModelSpec(response, fixed, tuple(random), "stata", options, residuals, family)


def _check_level_option(options: dict) -> None:
    """``level(#)``: a number between 10 and 99.99 (Stata's rule), said before anything runs."""
    if "level" not in options:
        return
    try:
        value = float(options["level"])
    except ValueError:
        raise SpecError(f"level({options['level']}) must be a number between 10 and 99.99, "
                        "e.g. level(90)") from None
    if not 10 <= value <= 99.99:
        raise SpecError(f"level({options['level']}) must be between 10 and 99.99")


def _check_bars(text: str) -> None:
    """A single ``|`` is lme4's bar; Stata's random-effects equations start with ``||``."""
    for _, piece in split_top(text, ("||",)):
        if "|" in piece:
            head = piece.split("|")[0].strip()
            raise SpecError(f"'|' after {head!r}: random-effects equations start with two bars "
                            f"in Stata, e.g. 'mixed y x || id:' (or use the formula "
                            f"'y ~ x + (1 | id)' with mejax.mixed)")


def _depvar_count(cmd: str) -> int:
    """Dependent variables the command takes: 0 (mestreg: stset), 1, or 2 (meintreg)."""
    if cmd not in GLMM_COMMANDS:
        return 1
    name = GLMM_COMMANDS[cmd][0]
    return 0 if name is None else FAMILIES[name].depvars


def _limit(value):
    """A tobit limit: a number, a variable name, or True (bare ll/ul: the observed extreme)."""
    if value is None or value is True:
        return value
    try:
        return float(value)
    except ValueError:
        if not _NAME.match(value):
            raise SpecError(f"limit {value!r} must be a number or a variable name") from None
        return value


def _glmm_family(cmd: str, options: dict, extra_depvars: list[str]):
    """The outcome family of an me* command and its options; normalises the rest."""
    name, link = GLMM_COMMANDS[cmd]
    fields: dict = dict(zip(FAMILIES[name].depvar_fields, extra_depvars)) if name else {}
    if name is None:  # mestreg: distribution() names the family, time the AFT metric
        if "distribution" not in options:
            raise SpecError("mestreg needs distribution(exponential|weibull|gompertz|lognormal|"
                            "loglogistic|gamma)")
        text = options.pop("distribution").strip().lower()
        name = stata_distribution(text)
        if name is None:
            raise SpecError(f"mestreg: unknown distribution({text}); use exponential, weibull, "
                            "gompertz, lognormal, loglogistic or gamma")
        link = "aft" if options.pop("time", False) else FAMILIES[name].links[0]
    for key in ("ll", "ul"):
        if key in options:
            fields[key] = _limit(options.pop(key))
    trials = options.pop("binomial", None)
    if trials is not None:
        trials = int(trials) if trials.isdigit() else trials
    dispersion = options.pop("dispersion", None)
    if options.pop("laplace", False):
        options["intmethod"] = "laplace"
    eform = [key for key in ("or", "irr", "eform") if options.pop(key, False)]
    if len(eform) > 1:
        raise SpecError(f"options {' and '.join(eform)} cannot be combined")
    if "intpoints" in options:
        points = options["intpoints"]
        if not points.isdigit() or not 1 <= int(points) <= 128:
            raise SpecError(f"intpoints({points}) must be an integer between 1 and 128")
        options["intpoints"] = int(points)
    try:
        family = make_family(name, link, trials=trials, offset=options.pop("offset", None),
                             exposure=options.pop("exposure", None), dispersion=dispersion,
                             option_names={"trials": "binomial()", "dispersion": "dispersion()",
                                           "ll": "ll()", "ul": "ul()"}, **fields)
        shown = eform[0] if eform else family.default_eform(
            {k: options.pop(k, False) for k in ("nohr", "tratio")})
    except SpecError as err:
        raise SpecError(f"{cmd}: {err}") from None
    for key in ("nohr", "tratio", "time"):
        if options.pop(key, False):
            raise SpecError(f"{cmd}: option {key} belongs to mestreg")
    if shown:
        options["eform"] = shown
    return family


def _random_part(level: str, varlist: list[str], opts: dict, chain: list[str],
                 allow_empty: bool = False) -> RandomPart:
    covariance = opts.get("covariance")
    if covariance is not None:
        try:
            covariance = canonical_covariance(covariance)
        except ValueError as err:
            raise SpecError(str(err)) from None
    if level == "_all":
        if len(varlist) != 1 or not varlist[0].startswith("R."):
            raise SpecError("'_all:' needs exactly one 'R.varname' (e.g. '|| _all: R.grp1')")
        name = varlist[0][2:]
        if not _NAME.match(name):
            raise SpecError(f"cannot parse {varlist[0]!r}")
        if covariance not in (None, "identity"):
            raise SpecError("R.varname random effects have identity covariance")
        return RandomPart((name,), LinearPart(True), "identity", f"_all: R.{name}")
    if not _NAME.match(level):
        raise SpecError(f"level variable {level!r} must be a variable name")
    for token in varlist:
        if token.startswith("R."):
            raise SpecError(f"{token!r}: R.varname is only allowed with '_all:'")
    chain.append(level)
    effects = LinearPart(not opts.get("noconstant", False), tuple(_parse_varlist(varlist)))
    if not effects.intercept and not effects.terms and not allow_empty:
        raise SpecError(f"random-effects equation {level!r} has noconstant and no variables")
    return RandomPart(tuple(chain), effects, covariance, level)
