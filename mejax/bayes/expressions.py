"""Conditions on parameters for ``bayestest interval``: ``{y:x1} > 0 & {var_U0} < 1`` (host).

Parameter references in braces become their draws; the rest is read with
Python's ``ast`` and evaluated node by node (numbers, + − * /, comparisons,
``&``/``|``/``!`` and ``and``/``or``/``not``) — never with ``eval``.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable

import numpy as np

from ..errors import SpecError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.BitAnd: np.logical_and,
           ast.BitOr: np.logical_or}
_COMPARE = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}


def evaluate_condition(condition: str, lookup: Callable[[str], np.ndarray]) -> np.ndarray:
    """The condition's truth per draw; ``lookup`` returns a parameter's draws by name."""
    refs: dict[str, np.ndarray] = {}

    def name(match):
        key = f"_p{len(refs)}"
        try:
            refs[key] = lookup(match.group(1))
        except KeyError as err:
            raise SpecError(str(err.args[0])) from None
        return key

    text = re.sub(r"\{([^{}]+)\}", name, str(condition)).replace("!=", " != ")
    text = re.sub(r"!(?!=)", " not ", text)
    # Stata's & and | bind looser than comparisons, as Python's and/or do
    text = re.sub(r"\|\|?", " or ", re.sub(r"&&?", " and ", text))
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot read the condition {condition!r}; write e.g. "
                        "'{y:x1} > 0' or '{y:x1} > 0 & {var_U0} < 1'") from None
    value = _eval(tree.body, refs, condition)
    if not isinstance(value, np.ndarray) or value.dtype != bool:
        raise SpecError(f"{condition!r} is not a condition: compare parameters with <, >, ...")
    return value


def _eval(node, refs, condition):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in refs:
        return refs[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, refs, condition),
                                      _eval(node.right, refs, condition))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        value = _eval(node.operand, refs, condition)
        return -value if isinstance(node.op, ast.USub) else np.logical_not(value)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, refs, condition) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left, out = _eval(node.left, refs, condition), None
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, refs, condition)
            step = _COMPARE[type(op)](left, right)
            out = step if out is None else np.logical_and(out, step)
            left = right
        return np.asarray(out)
    raise SpecError(f"cannot evaluate {ast.unparse(node)!r} in {condition!r}")
