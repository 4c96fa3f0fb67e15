"""From the user's weights, vce() and survey design to the arrays of a fit (host side).

Every front end (the formula API, Stata command lines, ``svy:`` in sessions)
ends here: :func:`fit_inputs` checks the combination, builds the
pseudo-likelihood weights of the design's rows and levels and the sampling
units of the sandwich variance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SpecError
from .fit.nesting import model_levels
from .spec.design import Design
from .spec.survey import (
    PseudoWeights,
    SamplingUnits,
    SurveyDesign,
    Weighting,
    cluster_units,
    parse_svyset,
    population_size,
    pseudo_weights,
    sampling_units,
    subpopulation,
)

VCE_NAMES = {"oim": "oim", "robust": "robust", "r": "robust", "rob": "robust",
             "cluster": "cluster", "cl": "cluster", "linearized": "linearized"}


def parse_vce(text: str | None) -> tuple[str, str | None]:
    """Stata's ``vce(oim | robust | cluster var)`` -> (kind, cluster variable)."""
    if text is None:
        return "oim", None
    words = str(text).split()
    kind = VCE_NAMES.get(words[0].lower()) if words else None
    if kind is None or kind == "linearized":
        raise SpecError(f"vce({text}) is not available; use vce(oim), vce(robust) or "
                        "vce(cluster varname) (survey designs: svyset, then svy:)")
    if kind == "cluster":
        if len(words) != 2:
            raise SpecError("vce(cluster) needs one variable: vce(cluster varname)")
        return kind, words[1]
    if len(words) != 1:
        raise SpecError(f"vce({text}): {words[0]} takes no arguments")
    return kind, None


def as_survey(survey) -> SurveyDesign | None:
    if survey is None or isinstance(survey, SurveyDesign):
        return survey
    if isinstance(survey, str):
        return parse_svyset(survey)
    raise SpecError("survey= takes a svyset specification such as 'psu, strata(st) "
                    "weight(w2) || _n, weight(w1)' or a mejax.SurveyDesign")


def fit_inputs(design: Design, data: pd.DataFrame, weighting: Weighting | None = None,
               vce: str | None = None, survey: SurveyDesign | None = None,
               subpop: str | None = None) -> tuple[PseudoWeights | None, SamplingUnits | None]:
    """Weights and sampling units of a fit (None, None for an ordinary ML fit)."""
    kind, cluster = parse_vce(vce)
    weighting = weighting or Weighting()
    if survey is not None and (weighting.any or kind != "oim"):
        raise SpecError("svy: takes its weights and variance from svyset; drop [pw=], "
                        "pweight() and vce() from the command")
    if subpop is not None and survey is None:
        raise SpecError("subpop() is an option of svy:")
    if survey is None and not weighting.any and kind == "oim":
        return None, None
    levels = model_levels(design)
    if not levels:
        raise SpecError("weights, vce(robust), vce(cluster) and svy: need the random effects "
                        "in nested levels (crossed effects have no clusters to sum over)")
    kept = design.frame.kept if design.frame.kept is not None else np.ones(len(data), bool)
    if survey is not None:
        weighting = survey.weighting([label for label, _, _ in levels], weighting.scale)
    weights = pseudo_weights(weighting, levels, data, kept)
    if subpop is not None:
        inside = subpopulation(data, kept, subpop)
        if not inside.any():
            raise SpecError(f"subpop({subpop}) selects no observations of the estimation "
                            "sample")
        rows = inside if weights.rows is None else weights.rows * inside
        weights = PseudoWeights(rows, weights.levels,
                                population_size(rows, weights.levels, levels))
    if survey is not None:
        units = sampling_units(survey, levels, data, kept)
    elif kind == "oim":
        units = None
    else:
        units = cluster_units(kind, levels, data, kept, cluster)
    return weights, units
