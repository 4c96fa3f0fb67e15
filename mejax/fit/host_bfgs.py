"""BFGS stepped from the host over one compiled value-and-gradient (single GLMM fits).

A fully compiled optimiser (optimistix inside one ``jax.jit``) compiles its loop body
— line search, BFGS update, stopping rules — around the gradient, and a fit then
needs a second program for the observed information. Profiled on cbpp (CPU seconds of
XLA compile), the loop and the information took 3.9 s (Laplace) and 6.5 s (7-point
mean-variance quadrature) against 1.2 s and 2.3 s for the gradient alone, and compile
is most of a first command's seconds. Here the loop runs in numpy over the one compiled
``value_and_grad`` (a few microseconds of host work per step against a GLMM's
evaluation), and the information is central differences of the same program.

The loop is numpy rather than :func:`scipy.optimize.minimize`: importing
scipy.optimize cost a fresh process 0.9 s here (on top of scipy.linalg), more than a
warm fit. It is textbook
BFGS (Nocedal & Wright, Algorithm 6.1) on the inverse Hessian, with the first-step
scaling (6.20), a backtracking Armijo search, and updates skipped when the curvature
condition fails, in the preconditioned coordinates of :func:`mejax.fit.glmm.preconditioner`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .optimize import ATOL, GAIN_TOL, HISTORY, RTOL

ARMIJO = 1e-4  # sufficient decrease, as a fraction of the directional derivative
BACKTRACKS = 40  # halvings of the step before the search gives up
CURVATURE_FLOOR = 1e-10  # skip the update unless y's > floor·|y||s|


def _objective(value_and_grad: Callable, params0, transform, nobs):
    """f(q) = −log L(params0 + T q)/n and its gradient, non-finite values as +inf."""
    def evaluate(q):
        value, grad = value_and_grad(params0 + transform @ q)
        value, grad = float(value), np.asarray(grad, dtype=float)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, grad
        return -value / nobs, -(transform.T @ grad) / nobs

    return evaluate


def minimise(value_and_grad: Callable, params0: np.ndarray, transform: np.ndarray | None,
             nobs: float, max_steps: int = 500) -> dict:
    """Maximise log L over params = params0 + T q; the outputs of the compiled fit.

    ``value_and_grad(params) -> (log L, ∇log L)`` is a compiled program. Stops when
    the last step moved q by less than the compiled loop's tolerances and the log
    likelihood the quasi-Newton model still expects to gain, ¼·n·g'Hg, is below
    :data:`~mejax.fit.optimize.GAIN_TOL`, or when no step decreases the objective
    (its precision reached: the caller's convergence test reads the gradient);
    ``success`` is False after ``max_steps`` or at a non-finite start.
    """
    params0 = np.asarray(params0, dtype=float)
    size = params0.shape[0]
    t = np.eye(size) if transform is None else np.asarray(transform, dtype=float)
    evaluate = _objective(value_and_grad, params0, t, nobs)
    q = np.zeros(size)
    f, g = evaluate(q)
    f0 = f
    h = np.eye(size)
    history, steps, success, settled = [], 0, False, False
    if np.isfinite(f):
        for steps in range(1, max_steps + 1):
            if settled and 0.25 * nobs * abs(g @ h @ g) < GAIN_TOL:
                success = True
                break
            direction = -h @ g
            slope = g @ direction
            if slope >= 0:  # not a descent direction: restart from steepest descent
                h, direction, slope = np.eye(size), -g, -(g @ g)
            accepted = _backtrack(evaluate, q, f, direction, slope)
            if accepted is None:  # at the objective's precision: is_converged judges g
                success = True
                break
            q_new, f_new, g_new = accepted
            s, y = q_new - q, g_new - g
            # the compiled loop's step rule too (optimistix's Cauchy test, same tolerances)
            settled = bool(np.all(np.abs(s) <= ATOL + RTOL * np.abs(q_new)))
            h = _updated(h, s, y, first=steps == 1)
            q, f, g = q_new, f_new, g_new
            history.append(-f * nobs)
    grad_q = g if np.all(np.isfinite(g)) else np.full(size, np.nan)
    return {
        "params": params0 + t @ q,
        "success": success,
        "steps": steps,
        # the gradient of −log L/n in the parameters' own scale, as the compiled fit gives it
        "grad": np.linalg.solve(t.T, grad_q),
        "gain": 0.25 * nobs * abs(grad_q @ h @ grad_q),
        "loglik": -f * nobs,
        "loglik0": -f0 * nobs,  # at the start
        "iterations": history[-HISTORY:],
    }


def _backtrack(evaluate: Callable, q, f, direction, slope):
    """The first of 1, ½, ¼, ... along ``direction`` with Armijo's decrease; None if none.

    Also None once a shortened step moves q by less than the stopping tolerances: no
    step that small changes the fit, and at the objective's rounding level halving on
    would spend up to :data:`BACKTRACKS` evaluations (sleepstudy: 27 of 40).
    """
    step = 1.0
    for _ in range(BACKTRACKS):
        if step < 1.0 and np.all(np.abs(step * direction) <= ATOL + RTOL * np.abs(q)):
            return None
        q_new = q + step * direction
        f_new, g_new = evaluate(q_new)
        if f_new <= f + ARMIJO * step * slope:
            return q_new, f_new, g_new
        step *= 0.5
    return None


def _updated(h: np.ndarray, s: np.ndarray, y: np.ndarray, first: bool) -> np.ndarray:
    """BFGS inverse-Hessian update; skipped when y's is not safely positive."""
    ys = y @ s
    if not ys > CURVATURE_FLOOR * np.linalg.norm(y) * np.linalg.norm(s):
        return h
    if first:  # scale the identity to the curvature seen along the first step
        h = (ys / (y @ y)) * np.eye(h.shape[0])
    rho = 1.0 / ys
    left = np.eye(h.shape[0]) - rho * np.outer(s, y)
    return left @ h @ left.T + rho * np.outer(s, s)
