"""Stata's ``predict newvar(s), options`` command line after ``me*`` commands."""

from __future__ import annotations

import pandas as pd

from ..spec.model import SpecError
from .eb_effects import eb_nodes
from .predict import KINDS, predict

_FLAGS = ("ebmeans", "ebmodes", "fixedonly", "marginal", "nooffset")


def predict_command(result, options: dict) -> tuple[pd.Series | pd.DataFrame,
                                                     pd.DataFrame | None, list[str]]:
    """``predict newvar(s), options`` after me*: the values, reses() SEs and Stata's notes.

    ``options`` maps lower-case option names to True or their argument.
    """
    options = dict(options)
    own = result.predictive.family.statistics
    bounds = None
    for word, kind in (("median", "median"), ("mean", "mean_time")):  # median time, mean time
        if word in options and kind in own:
            options.pop(word)
            options.pop("time", None)
            options[kind] = True
    for kind in ("e", "ystar", "pr"):
        if kind in own and isinstance(options.get(kind), str):
            bounds = options[kind]
            options[kind] = True
    known = KINDS + own
    kinds = [k for k in options if k in known and k != "reses"]
    unknown = [k for k in options if k not in known and k not in _FLAGS
               and k not in ("conditional", "outcome", "reses", "intpoints")]
    if unknown:
        raise SpecError(f"predict: option {unknown[0]} not allowed; use one of "
                        f"{', '.join(k for k in KINDS if k != 'reses')}, conditional(), "
                        "marginal, outcome(), reses()")
    if len(kinds) > 1:
        raise SpecError(f"predict: only one of {', '.join(kinds)} allowed")
    default = result.predictive.default_kind
    kind = kinds[0] if kinds else ("reffects" if "reses" in options else default)
    if "reses" in options and kind != "reffects":
        raise SpecError("predict: reses() goes with reffects")
    if options.get("nooffset"):
        raise SpecError("predict: nooffset is not supported")
    conditional = str(options.get("conditional", "ebmeans")).strip().lower()
    for flag in ("ebmeans", "ebmodes", "fixedonly"):
        if options.get(flag):
            conditional = flag
    marginal = bool(options.get("marginal"))
    nodes = int(options["intpoints"]) if "intpoints" in options else None
    outcome = options.get("outcome")
    values = predict(result, kind, conditional=conditional, marginal=marginal,
                     outcome=outcome, nodes=nodes, bounds=bounds)
    ses = predict(result, "reses", conditional=conditional, nodes=nodes) \
        if "reses" in options else None
    notes = [] if kinds or "reses" in options else [f"(option {kind} assumed)"]
    notes += _predict_notes(result, kind, conditional, marginal, nodes)
    return values, ses, notes


def _predict_notes(result, kind: str, conditional: str, marginal: bool,
                   nodes: int | None) -> list[str]:
    if kind in ("xb", "stdp") or not result.model.integration.has_effects:
        return []
    means = conditional == "ebmeans" and result.model.integration.has_posterior_means
    quad = f"(using {eb_nodes(result, nodes)} quadrature points)"
    if kind in ("reffects", "reses"):
        return ([f"(calculating posterior {'means' if means else 'modes'} of random effects)"]
                + ([quad] if means else []))
    if marginal:
        return ["(marginal predictions: random effects integrated out)"]
    if conditional == "fixedonly":
        return ["(predictions based on fixed effects only)"]
    return ([f"(predictions based on fixed effects and posterior "
             f"{'means' if means else 'modes'} of random effects)"] + ([quad] if means else []))
