"""The named parameters of a Bayesian multilevel model and their sampling scale (host side).

:func:`build_layout` reads a :class:`mejax.spec.design.Design` and lays out, in
Stata's names, what is sampled: the coefficients ``{y:x1}``, each term's
variances ``{var_U0}`` (identity, independent), common variance ``{var_U}``
and covariance ``{cov_U}`` (exchangeable) or covariance matrix ``{Sigma_U,m}``
(unstructured), the residual variance ``{e.y:sigma2}`` of a
linear model and the family's extra parameters (``{lnalpha}``, ``{cut1}``), with
their priors (Stata's defaults unless the user names them). Random effects are
sampled non-centred: u ~ N(0, I) per level and b = L u with L the Cholesky
factor of the term's covariance. Random effects of the k-th random-effects
equation are named ``U`` (``UU`` for the second, ...) followed by 0 for the
intercept and 1, 2, ... for the slopes in the order written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import SpecError
from ..spec.design import Design
from .priors import LKJ, Flat, InverseGamma, InverseWishart, Jeffreys, Normal, Prior, as_prior

INTERCEPTS = ("_cons", "(Intercept)")


@dataclass(frozen=True)
class TermLayout:
    """One random-effects term: its stub, effects in U order and covariance kind."""

    stub: str  # "U", "UU", ...
    group: str
    kind: str  # "identity", "independent", "exchangeable" or "unstructured"
    effects: tuple[str, ...]  # latent names in U order: ("U0", "U1")
    effect_vars: tuple[str, ...]  # the variables they multiply, same order
    order: tuple[int, ...]  # design column of each effect, in U order
    n_levels: int

    @property
    def k(self) -> int:
        return len(self.effects)

    @property
    def n_free(self) -> int:
        """Unconstrained covariance parameters."""
        return {"identity": 1, "independent": self.k, "exchangeable": 2,
                "unstructured": self.k * (self.k + 1) // 2}[self.kind]

    @property
    def rho_min(self) -> float:
        """The smallest common correlation of an exchangeable term: −1/(k − 1)."""
        return -1.0 / (self.k - 1)

    @property
    def matrix_name(self) -> str:
        return f"Sigma_{self.stub}"

    def reported_names(self) -> list[str]:
        """Names of the covariance parameters in the results."""
        if self.kind == "identity":
            return [f"var_{self.stub}" if self.k > 1 else f"var_{self.effects[0]}"]
        if self.kind == "independent":
            return [f"var_{e}" for e in self.effects]
        if self.kind == "exchangeable":
            return [f"var_{self.stub}", f"cov_{self.stub}"]
        rows, cols = vech_indices(self.k)
        return [f"{self.matrix_name}_{i + 1}_{j + 1}" for i, j in zip(rows, cols)]


def vech_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangle (row, column) positions column by column: (1,1), (2,1), (2,2) for k = 2."""
    pairs = [(i, j) for j in range(k) for i in range(j, k)]
    return np.array([p[0] for p in pairs], int), np.array([p[1] for p in pairs], int)


@dataclass(frozen=True)
class Layout:
    """Everything named about a Bayesian model's parameters (hashable: a static argument)."""

    response: str
    coef_names: tuple[str, ...]  # "y:x1", ...
    terms: tuple[TermLayout, ...]
    sigma2_name: str | None  # "e.y:sigma2" for a linear model
    aux_names: tuple[str, ...]
    priors: tuple[tuple[str, Prior], ...] = field(default=())  # name -> prior, every parameter
    aux_kinds: tuple[str, ...] = ()  # "real" or "positive" per aux parameter; () all real

    @property
    def p(self) -> int:
        return len(self.coef_names)

    def prior_of(self, name: str) -> Prior:
        return dict(self.priors)[name]

    def scalar_names(self) -> list[str]:
        """Every reported parameter, in table order."""
        names = list(self.coef_names)
        for term in self.terms:
            names += term.reported_names()
        if self.sigma2_name:
            names.append(self.sigma2_name)
        return names + list(self.aux_names)

    def prior_targets(self) -> dict[str, str]:
        """Names a prior may be put on -> their kind ("real", "positive", "matrix")."""
        kinds = {n: "real" for n in self.coef_names}
        for term in self.terms:
            if term.kind == "unstructured":
                kinds[term.matrix_name] = "matrix"
            else:  # an exchangeable covariance has its fixed prior (correlation_prior_text)
                kinds.update({n: "positive" for n in term.reported_names()
                              if not n.startswith("cov_")})
        if self.sigma2_name:
            kinds[self.sigma2_name] = "positive"
        kinds.update(zip(self.aux_names, self.aux_kinds or ["real"] * len(self.aux_names)))
        return kinds


def _stub(index: int) -> str:
    return "U" * (index + 1)


def _term_layout(term, index: int) -> TermLayout:
    names = list(term.effect_names)
    order = [i for i, n in enumerate(names) if n in INTERCEPTS]
    order += [i for i, n in enumerate(names) if n not in INTERCEPTS]
    has_cons = bool(order) and names[order[0]] in INTERCEPTS
    stub = _stub(index)
    effects = tuple(f"{stub}{j + (0 if has_cons else 1)}" for j in range(len(order)))
    kind = {"Identity": "identity", "Independent": "independent",
            "Exchangeable": "exchangeable" if len(order) > 1 else "identity",
            "Unstructured": "unstructured"}.get(term.structure.label)
    if kind is None:
        raise SpecError(f"bayes: covariance({term.structure.label.lower()}) is not supported "
                        f"for {term.label!r}; use identity, independent, exchangeable or "
                        "unstructured")
    return TermLayout(stub, term.label, kind, effects, tuple(names[i] for i in order),
                      tuple(order), term.n_levels)


def build_layout(design: Design, priors=None, *, gaussian: bool,
                 defaults: dict | None = None) -> Layout:
    """The layout of ``design``'s parameters with Stata's default priors, then ``priors``.

    ``defaults`` changes the defaults as Stata's ``normalprior(sd)``,
    ``igammaprior(a b)`` and ``iwishartprior(df)`` do (keys ``normal_sd``,
    ``igamma``, ``iwishart_df``).
    """
    eq = (design.glm.family.response_label(design.response) if design.glm is not None
          else design.response)  # mestreg's equation is Stata's _t
    coef = tuple(f"{eq}:{n}" for n in design.x_names)
    terms = tuple(_term_layout(t, i) for i, t in enumerate(design.re_terms))
    aux, kinds = _aux_layout(design)
    layout = Layout(eq, coef, terms, f"e.{eq}:sigma2" if gaussian else None, aux,
                    aux_kinds=kinds)
    return with_priors(layout, priors, defaults)


def with_priors(layout: Layout, priors=None, defaults: dict | None = None) -> Layout:
    """``layout`` with a prior on every target: Stata's defaults (changed by ``defaults``,
    as in :func:`build_layout`), then the user's ``priors``, checked for propriety."""
    chosen = default_priors(layout, **(defaults or {}))
    igamma = (defaults or {}).get("igamma") or (0.01, 0.01)
    chosen.update(user_priors(layout, priors, InverseGamma(*map(float, igamma))))
    check_proper(layout, chosen)
    return replace(layout, priors=tuple((n, chosen[n]) for n in layout.prior_targets()))


def _aux_layout(design: Design) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The family's ancillary parameters: names and kinds.

    A family whose one ancillary parameter is the residual variance (tobit,
    interval regression) reports it as Stata's ``{e.y:sigma2}``, a variance with
    the inverse-gamma default; the others (``lnalpha``, ``ln_p``, cutpoints) are
    real-valued.
    """
    if design.glm is None:
        return (), ()
    family = design.glm.family
    if family.residual_variance_aux:
        return (f"e.{design.response}:sigma2",), ("positive",)
    names = tuple(family.aux_names(design.glm.n_categories))
    return names, ("real",) * len(names)


def default_priors(layout: Layout, normal_sd: float | None = None,
                   igamma: tuple[float, float] | None = None,
                   iwishart_df: float | None = None) -> dict[str, Prior]:
    """Stata's defaults: normal(0, 10000), igamma(0.01, 0.01), iwishart(d + 1, I(d))."""
    sd = 100.0 if normal_sd is None else float(normal_sd)
    if not sd > 0:
        raise SpecError(f"normalprior({sd:g}) must be positive")
    shape, scale = (0.01, 0.01) if igamma is None else igamma
    out: dict[str, Prior] = {}
    for name, kind in layout.prior_targets().items():
        if kind == "real":
            out[name] = Normal(0.0, sd**2)
        elif kind == "positive":
            out[name] = InverseGamma(float(shape), float(scale))
        else:
            dim = next(t.k for t in layout.terms if t.matrix_name == name)
            out[name] = InverseWishart(dim + 1.0 if iwishart_df is None else float(iwishart_df),
                                       dim)
    return out


def parse_reference(ref: str, layout: Layout) -> list[str]:
    """The parameter names a Stata reference ``{y:x1 x2}``, ``{y:}``, ``{var_U0}`` selects."""
    text = str(ref).strip()
    inner = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    inner = re.sub(r",\s*m(atrix)?\s*$", "", inner.strip())
    targets = layout.prior_targets()
    if ":" in inner and not inner.startswith("e."):
        eq, _, rest = inner.partition(":")
        eq = eq.strip()
        if not rest.strip():
            names = [n for n in targets if n.startswith(f"{eq}:")]
        else:
            names = [f"{eq}:{r}" for r in rest.split()]
    else:
        names = inner.split() if not inner.startswith("e.") else [inner.replace(" ", "")]
    unknown = [n for n in names if n not in targets]
    fixed = [t for t in layout.terms if t.kind == "exchangeable"
             and f"cov_{t.stub}" in unknown]
    if fixed:
        raise SpecError(f"{{cov_{fixed[0].stub}}} of an exchangeable covariance takes no prior "
                        f"of its own: its correlation {{cov_{fixed[0].stub}}}/{{var_"
                        f"{fixed[0].stub}}} is uniform on ({fixed[0].rho_min:g}, 1); put a prior "
                        f"on {{var_{fixed[0].stub}}}, or use covariance(unstructured)")
    if unknown or not names:
        listed = ", ".join("{" + n + (",m}" if k == "matrix" else "}")
                           for n, k in targets.items())
        what = ", ".join("{" + n + "}" for n in unknown) if unknown else text
        raise SpecError(f"prior on {what}: no such parameter in this model; its parameters "
                        f"are {listed}")
    return names


def user_priors(layout: Layout, priors, variance: Prior | None = None) -> dict[str, Prior]:
    """The user's priors (reference -> prior text or object), checked against the parameters.

    ``variance`` is the default prior of variances, which ``lkj(eta)`` puts on Σ's diagonal.
    """
    if priors is None:
        return {}
    if not isinstance(priors, dict):
        raise SpecError("priors= must be a dict mapping parameters to priors, e.g. "
                        "{'{y:x1}': 'normal(0, 100)'}")
    targets = layout.prior_targets()
    out: dict[str, Prior] = {}
    for ref, value in priors.items():
        prior = as_prior(value)
        for name in parse_reference(ref, layout):
            kind = targets[name]
            if not prior.fits(kind):
                need = {"real": "a real-valued parameter", "positive": "a variance",
                        "matrix": "a covariance matrix"}[kind]
                hint = (" (use iwishart(df, I(d)) or lkj(eta))" if kind == "matrix" else "")
                raise SpecError(f"prior {prior.text()} cannot be put on {{{name}}}, "
                                f"{need}{hint}")
            if isinstance(prior, InverseWishart):
                term = next(t for t in layout.terms if t.matrix_name == name)
                if not prior.fits_dim(term.k):
                    raise SpecError(f"prior {prior.text()} on {{{name},m}}: the matrix is "
                                    f"{term.k}×{term.k}; use iwishart(df, I({term.k}))")
            if isinstance(prior, LKJ) and prior.variance is None:  # the default variance prior
                prior = LKJ(prior.eta, variance)
            out[name] = prior
    return out


def check_proper(layout: Layout, priors: dict[str, Prior]) -> None:
    """Refuse improper priors under which the posterior is improper."""
    for term in layout.terms:
        for name in term.reported_names() if term.kind != "unstructured" else ():
            if name not in priors:  # an exchangeable covariance: a proper uniform correlation
                continue
            prior = priors[name]
            if isinstance(prior, Jeffreys):
                raise SpecError(f"prior jeffreys on {{{name}}} makes the posterior improper "
                                "(the density does not vanish as a random-effects variance "
                                "goes to zero); use igamma(0.01, 0.01) or a proper prior")
            if isinstance(prior, Flat) and term.n_levels < 4:
                raise SpecError(f"a flat prior on {{{name}}} needs at least 4 groups for a "
                                f"proper posterior; {term.group} has {term.n_levels}")
