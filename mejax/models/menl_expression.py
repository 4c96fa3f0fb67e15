"""A parsed ``menl`` expression as a JAX mean function (pure, traced).

:class:`ExpressionMean` holds the tree of :mod:`mejax.spec.menl_syntax` and evaluates it
with ``jax.numpy`` on the ``params`` and ``data`` a mean function receives. It is a frozen
dataclass, so two fits of the same command share one compiled program; named
expressions are evaluated once per call and can be predicted on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy import special

from ..spec.menl_syntax import (
    Binary,
    Call,
    Effect,
    Indicator,
    Named,
    Num,
    Param,
    Unary,
    Var,
)

_FUNCTIONS = {
    "exp": jnp.exp, "ln": jnp.log, "log": jnp.log, "log10": jnp.log10, "sqrt": jnp.sqrt,
    "abs": jnp.abs, "invlogit": special.expit, "logit": special.logit, "normal": special.ndtr,
    "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "atan": jnp.arctan,
    "lngamma": special.gammaln, "cond": lambda c, a, b: jnp.where(c != 0, a, b),
}

_BINARY = {
    "+": jnp.add, "-": jnp.subtract, "*": jnp.multiply, "/": jnp.divide, "^": jnp.power,
    "==": lambda a, b: (a == b).astype(float), "!=": lambda a, b: (a != b).astype(float),
    "<": lambda a, b: (a < b).astype(float), ">": lambda a, b: (a > b).astype(float),
    "<=": lambda a, b: (a <= b).astype(float), ">=": lambda a, b: (a >= b).astype(float),
    "&": lambda a, b: ((a != 0) & (b != 0)).astype(float),
    "|": lambda a, b: ((a != 0) | (b != 0)).astype(float),
}


@dataclass(frozen=True)
class ExpressionMean:
    """``mean(params, data)`` from a menl expression and its named expressions."""

    expression: object
    defines: tuple  # ((name, tree), ...)

    def __call__(self, params: dict, data: dict):
        return self.evaluate(self.expression, params, data, {})

    def named(self, name: str, params: dict, data: dict):
        """The named expression ``{name:}`` at every row."""
        return self.evaluate(Named(name), params, data, {})

    def evaluate(self, node, params: dict, data: dict, cache: dict):
        if isinstance(node, Num):
            return jnp.asarray(node.value)
        if isinstance(node, Var):
            return data[node.name]
        if isinstance(node, (Param, Effect)):
            return params[node.name]
        if isinstance(node, Indicator):
            return (data[node.name] == node.value).astype(float)
        if isinstance(node, Named):
            if node.name not in cache:
                cache[node.name] = self.evaluate(dict(self.defines)[node.name], params, data,
                                                 cache)
            return cache[node.name]
        if isinstance(node, Binary):
            return _BINARY[node.op](self.evaluate(node.left, params, data, cache),
                                    self.evaluate(node.right, params, data, cache))
        if isinstance(node, Unary):
            value = self.evaluate(node.operand, params, data, cache)
            return -value if node.op == "-" else (value == 0).astype(float)
        if isinstance(node, Call):
            return _FUNCTIONS[node.function](*(self.evaluate(a, params, data, cache)
                                               for a in node.args))
        raise TypeError(f"unknown menl expression node {node!r}")
