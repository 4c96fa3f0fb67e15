"""mejax: multilevel mixed-effects models in JAX, with Stata's and lme4's interfaces."""

from ._config import configure as _configure

_configure()

from . import (  # noqa: E402
    datasets,
    functional,
)
from .api import (  # noqa: E402
    mecloglog,
    meglm,
    meintreg,
    melogit,
    menbreg,
    meologit,
    meoprobit,
    mepoisson,
    meprobit,
    mestreg,
    metobit,
    mixed,
    stata,
)
from .api_checks import BinaryOutcomeWarning  # noqa: E402
from .batch import BatchResult  # noqa: E402
from .batch_api import fit_batch  # noqa: E402
from .errors import FitError  # noqa: E402
from .fit.mixed import ConvergenceWarning  # noqa: E402
from .inference.hypothesis import lrtest  # noqa: E402
from .inference.marginsplot import marginsplot  # noqa: E402
from .inference.power import power  # noqa: E402
from .menl_api import menl  # noqa: E402
from .results.glmm_result import GlmmResult  # noqa: E402
from .results.mixed_result import MixedResult  # noqa: E402
from .session import StataSession  # noqa: E402
from .spec.design import DataError  # noqa: E402
from .spec.model import SpecError  # noqa: E402
from .spec.residuals import Residuals  # noqa: E402

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
        import importlib

        module = importlib.import_module(".bayes", __name__)
        importlib.import_module(".bayes_api", __name__)  # registers mejax.bayes(...)
        return module if name == "bayes" else getattr(module, name)
    raise AttributeError(f"module 'mejax' has no attribute {name!r}")
