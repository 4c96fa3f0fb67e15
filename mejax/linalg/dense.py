"""The dense Schur-complement block: log-determinant and a quadratic form, with a cheap derivative.

For the dense block S (q2×q2) the profiled deviance needs only log|S| and
W = B'S⁻¹B for the few columns B = [X y]. Differentiating through a generic
Cholesky costs about ten factorizations on CPU; the closed-form derivative

    d log|S| = tr(S⁻¹ dS),    dW = dB'U + U'dB − U' dS U,   U = S⁻¹B

costs one inverse from the factor. A ``custom_jvp`` keeps forward mode (for
Hessians) and reverse mode (by transposition) both available.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular


@jax.custom_jvp
def logdet_and_form(s, b):
    """(log|S|, B'S⁻¹B) for symmetric positive-definite S."""
    low = jnp.linalg.cholesky(s)
    c = solve_triangular(low, b, lower=True)
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(low))), c.T @ c


@logdet_and_form.defjvp
def _logdet_and_form_jvp(primals, tangents):
    s, b = primals
    ds, db = tangents
    low = jnp.linalg.cholesky(s)
    c = solve_triangular(low, b, lower=True)
    s_inv = cho_solve((low, True), jnp.eye(s.shape[0], dtype=s.dtype))
    u = s_inv @ b
    d_logdet = jnp.sum(s_inv * ds)
    du = db.T @ u
    d_form = du + du.T - u.T @ ds @ u
    return (2.0 * jnp.sum(jnp.log(jnp.diagonal(low))), c.T @ c), (d_logdet, d_form)
