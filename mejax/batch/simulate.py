"""Draw responses from a linear mixed model: new random effects and new residuals.

y* = Xβ + Σ_t Z_t b_t + e with b_t ~ N(0, Σ_t) independently per level and
e ~ N(0, σ²R̃) (R̃ = I without a residual structure; per residual group
otherwise). Host side, numpy. Each replicate consumes one row of standard
normals from the generator, so a run of n draws gives the same responses
whether it is drawn at once or in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg.residual_blocks import covariance_index_arrays, group_rows
from ..models.lmm import residual_eta
from ..spec.design import Design


@dataclass
class SimTerm:
    codes: np.ndarray  # (nobs,) level of each row
    z: np.ndarray  # (nobs, k)
    factor: np.ndarray  # (k, k) with factor @ factor.T = Σ_t
    n_levels: int


@dataclass
class LmmSimulator:
    """Responses from fixed parameter values, in the estimation sample's row order."""

    mean: np.ndarray  # (nobs,) Xβ
    terms: list[SimTerm]
    sigma: float
    residual_index: np.ndarray | None = None  # (G, M) rows of each residual group
    residual_mask: np.ndarray | None = None  # (G, M)
    residual_factor: np.ndarray | None = None  # (G, M, M) Cholesky factors of R̃_g

    @property
    def nobs(self) -> int:
        return self.mean.shape[0]

    @property
    def n_normals(self) -> int:
        return sum(t.n_levels * t.z.shape[1] for t in self.terms) + self.nobs

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, nobs) responses; consecutive calls continue one random stream."""
        u = rng.standard_normal((n, self.n_normals))
        y = np.repeat(self.mean[None, :], n, axis=0)
        position = 0
        for term in self.terms:
            k = term.z.shape[1]
            size = term.n_levels * k
            effects = u[:, position : position + size].reshape(n, term.n_levels, k) @ term.factor.T
            position += size
            y += np.einsum("nik,ik->ni", effects[:, term.codes, :], term.z)
        y += self.sigma * self._residual(u[:, position:])
        return y

    def _residual(self, white: np.ndarray) -> np.ndarray:
        if self.residual_factor is None:
            return white
        return correlate(white, self.residual_index, self.residual_mask, self.residual_factor)

    @classmethod
    def from_result(cls, result) -> LmmSimulator:
        """At a fitted model's estimates (β̂, Σ̂_t, σ̂², residual parameters)."""
        fit = result.report.outputs
        model = fit["model"]
        design = result.design
        sim = cls.from_parameters(design, fit["beta"], term_covariances(design, fit),
                                  float(fit["sigma2"]))
        if model.residual is not None:
            sim._set_residual(design, model.residual,
                              residual_eta(np.asarray(fit["theta"]), model))
        return sim

    @classmethod
    def from_parameters(cls, design: Design, beta, covariances: dict[int, np.ndarray],
                        sigma2: float) -> LmmSimulator:
        """From β, Σ_t per random-effect term (index in ``design.re_terms``) and σ²."""
        terms = []
        for i, term in enumerate(design.re_terms):
            factor = psd_sqrt(np.atleast_2d(np.asarray(covariances[i], dtype=float)))
            terms.append(SimTerm(term.codes, term.z, factor, term.n_levels))
        mean = design.x @ np.asarray(beta, dtype=float)
        return cls(mean, terms, float(np.sqrt(sigma2)))

    def _set_residual(self, design: Design, residual, eta: np.ndarray) -> None:
        """R̃_g from the residual structure at ``eta``, factored once per group."""
        self.residual_index, self.residual_mask, self.residual_factor = residual_factors(
            design.residual, residual, eta)


def residual_factors(res, residual, eta: np.ndarray):
    """Rows of every residual group (G, M), their mask and the Cholesky factors of R̃_g
    (G, M, M) of the residual design ``res`` under ``residual`` at ``eta``."""
    index, mask = group_rows(res)
    arrays = {
        "r_mask": mask,
        "r_by_row": np.where(mask > 0, res.by_codes[index], 0).astype(np.int32),
        "r_by_group": res.by_codes[index[:, 0]].astype(np.int32),
        **covariance_index_arrays(res, index, mask),
    }
    cov = np.asarray(_relative_cov(residual, jnp.asarray(eta), arrays))
    return index, mask, np.linalg.cholesky(cov)


def correlate(white: np.ndarray, index: np.ndarray, mask: np.ndarray,
              factor: np.ndarray) -> np.ndarray:
    """(n, nobs) standard normals made R̃-correlated within the residual groups."""
    inside = mask > 0
    grouped = np.where(inside, white[:, index], 0.0)
    correlated = np.einsum("gij,ngj->ngi", factor, grouped)
    out = np.empty_like(white)
    out[:, index[inside]] = correlated[:, inside]
    return out


@partial(jax.jit, static_argnums=0)
def _relative_cov(residual, eta, arrays):
    """R̃_g of every residual group in one compiled call (eagerly it is dozens of them)."""
    return residual.relative_cov(eta, arrays)


def term_covariances(design: Design, fit: dict) -> dict[int, np.ndarray]:
    """Σ̂_t of every term (keyed by index in ``design.re_terms``) from the reported entries."""
    return covariances_from_entries(design, fit["entries"], fit["order"])


def covariances_from_entries(design: Design, entries, order) -> dict[int, np.ndarray]:
    """Σ_t per term from reported entries that list the terms in ``order`` (term indices)."""
    entries = np.asarray(entries)
    covs, position = {}, 0
    for term_i in order:
        struct = design.re_terms[term_i].structure
        sigma = np.zeros((struct.k, struct.k))
        for i, j in struct.entries():
            sigma[i, j] = sigma[j, i] = entries[position]
            position += 1
        covs[term_i] = sigma
    return covs


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """A square root L with L L' = Σ for a symmetric positive semi-definite Σ."""
    matrix = 0.5 * (matrix + matrix.T)
    values, vectors = np.linalg.eigh(matrix)
    if values.min() < -1e-10 * max(values.max(), 1.0):
        raise ValueError(f"covariance matrix is not positive semi-definite:\n{matrix}")
    return vectors * np.sqrt(np.clip(values, 0.0, None))
