"""mejax: multilevel mixed-effects models in JAX, with Stata's and lme4's interfaces."""

import importlib

from ._config import configure as _configure

_configure()

# Every public name loads its module on first use (PEP 562): `import mejax` costs JAX and
# this table, and a fit imports only the engine it runs (not scipy.stats, the survival,
# menl or functional machinery it does not touch). benchmarks/run_cold.py times it.
_LAZY = {
    **dict.fromkeys(("mecloglog", "meglm", "meintreg", "melogit", "menbreg", "meologit",
                     "meoprobit", "mepoisson", "meprobit", "mestreg", "metobit", "mixed",
                     "stata"), ".api"),
    "datasets": ".datasets", "functional": ".functional",
    "BinaryOutcomeWarning": ".api_checks", "BatchResult": ".batch", "fit_batch": ".batch_api",
    "FitError": ".errors", "ConvergenceWarning": ".fit.mixed", "lrtest": ".inference.hypothesis",
    "marginsplot": ".inference.marginsplot", "power": ".inference.power", "menl": ".menl_api",
    "GlmmResult": ".results.glmm_result",
    "MixedResult": ".results.mixed_result", "StataSession": ".session",
    "DataError": ".spec.design", "SpecError": ".spec.model", "Residuals": ".spec.residuals",
}
_SUBMODULES = ("datasets", "functional")

__all__ = ["mixed", "stata", "meglm", "melogit", "meprobit", "mecloglog", "meologit",
           "meoprobit", "mepoisson", "menbreg", "metobit", "meintreg", "mestreg", "GlmmResult",
           "datasets", "MixedResult", "SpecError", "DataError", "FitError",
           "ConvergenceWarning", "BinaryOutcomeWarning", "Residuals", "lrtest", "StataSession",
           "fit_batch", "BatchResult", "power", "functional", "menl", "bayes", "BayesResult",
           "BayesWarning", "marginsplot"]
__version__ = "0.1.0"

# mejax.bayes (callable: mejax.bayes(model, data, ...)), BayesResult and BayesWarning load on
# first use: the sampler stack (blackjax, ArviZ) would add seconds to every import of mejax
_BAYES_NAMES = ("bayes", "BayesResult", "BayesWarning")


def __getattr__(name: str):
    if name in _BAYES_NAMES:
        module = importlib.import_module(".bayes", __name__)
        importlib.import_module(".bayes_api", __name__)  # registers mejax.bayes(...)
        return module if name == "bayes" else getattr(module, name)
    if name not in _LAZY:
        raise AttributeError(f"module 'mejax' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name in _SUBMODULES else getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
