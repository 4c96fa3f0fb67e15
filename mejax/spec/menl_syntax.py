"""Stata's ``menl`` syntax: substitutable expressions parsed into a small tree (pure host).

``menl y = {phi1:}/(1+exp(-(x-{b2})/{b3})), define(phi1: {b1}+{U[plot]}) initial(b1 19)``
is read here into a :class:`MenlSpec`: the response, the mean as an expression tree,
the named expressions of ``define()``, the fixed parameters (``{b1}``, and the
coefficients ``{phi1:x1}``, ``{phi1:_cons}`` of linear combinations), the random
effects with their levels (``{U[plot]}``, ``{UU[plot<zone]}``, ``{1.variety#U1[plot]}``)
and the options. Nothing is evaluated: :mod:`mejax.models.menl_expression` turns the
tree into a JAX mean function. Every mistake is a :class:`SpecError` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SpecError
from .formula import split_words
from .menl_residuals import ResidualOptions, parse_rescorrelation, parse_rescovariance

__all__ = ["MenlSpec", "parse_menl", "Num", "Var", "Param", "Effect", "Named", "Call",
           "Binary", "Unary", "Indicator", "FUNCTIONS"]

FUNCTIONS = ("exp", "ln", "log", "log10", "sqrt", "abs", "invlogit", "logit", "normal",
             "sin", "cos", "tan", "atan", "lngamma", "cond")


# ---- the expression tree (frozen: hashable, so equal commands share one compiled fit) -----
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Param:
    name: str  # b1, phi1:x1, phi1:_cons


@dataclass(frozen=True)
class Effect:
    name: str
    level: str  # "plot" or "plot<zone"


@dataclass(frozen=True)
class Indicator:
    """``1.variety``: 1 where the variable equals the value, else 0."""

    value: float
    name: str


@dataclass(frozen=True)
class Named:
    name: str  # {phi1:}


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclass
class MenlSpec:
    """A parsed ``menl`` command."""

    response: str
    mean: object
    defines: dict[str, object]
    fixed: list[str]                       # in order of first appearance
    random: dict[str, str]                 # effect -> level
    variables: list[str]                   # data columns the expressions read
    initial: dict[str, float] = field(default_factory=dict)
    covariance: dict = field(default_factory=dict)
    resvariance: str | None = None
    rescorrelation: ResidualOptions | None = None
    rescovariance: ResidualOptions | None = None
    reml: bool = False
    method: str = "linearization"
    intpoints: int | None = None
    level: float = 95.0
    if_exp: str | None = None
    in_range: str | None = None


# ---- top-level splitting -----------------------------------------------------------------
_OPEN, _CLOSE = "({[", ")}]"


def _check_balance(text: str, what: str) -> None:
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch in _OPEN:
            stack.append((ch, i))
        elif ch in _CLOSE:
            want = _OPEN[_CLOSE.index(ch)]
            if not stack or stack[-1][0] != want:
                raise SpecError(f"unbalanced {_kind(ch)} in {what}: unexpected {ch!r} at "
                                f"{text[max(0, i - 20):i + 1]!r}")
            stack.pop()
    if stack:
        ch, i = stack[-1]
        raise SpecError(f"unbalanced {_kind(ch)} in {what}: {ch!r} at "
                        f"{text[i:i + 25]!r} is never closed")


def _kind(ch: str) -> str:
    return {"(": "parenthesis", ")": "parenthesis", "{": "brace", "}": "brace",
            "[": "bracket", "]": "bracket"}[ch]


def _top_level(text: str):
    depth = 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0:
            yield i, ch


def _split_comma(text: str) -> tuple[str, str]:
    for i, ch in _top_level(text):
        if ch == ",":
            return text[:i].strip(), text[i + 1:].strip()
    return text.strip(), ""


def _options(text: str) -> list[tuple[str, str | None]]:
    """``a b(c (d)) e`` -> [("a", None), ("b", "c (d)"), ("e", None)]."""
    items, pos = [], 0
    while pos < len(text):
        if text[pos].isspace() or text[pos] == ",":
            pos += 1
            continue
        m = re.match(r"[A-Za-z_]\w*", text[pos:])
        if not m:
            raise SpecError(f"cannot read the menl options at {text[pos:pos + 30]!r}")
        name, pos = m.group(0).lower(), pos + m.end()
        arg = None
        if pos < len(text) and text[pos] == "(":
            depth, start = 0, pos
            while pos < len(text):
                depth += text[pos] in _OPEN
                depth -= text[pos] in _CLOSE
                pos += 1
                if depth == 0:
                    break
            arg = text[start + 1:pos - 1].strip()
        items.append((name, arg))
    return items


def _qualifiers(body: str) -> tuple[str, str | None, str | None]:
    """``y = expr if exp in range`` -> (y = expr, exp, range)."""
    top = dict(_top_level(body))
    marks = [(m.start(), m.group(1)) for m in re.finditer(r"(?<![\w.])(if|in)(?=\s)", body)
             if m.start() in top]
    if not marks:
        return body, None, None
    found: dict[str, str] = {}
    for k, (start, word) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else len(body)
        found[word] = body[start + len(word):end].strip()
    return body[:marks[0][0]], found.get("if"), found.get("in")


# ---- tokens and the recursive-descent parser ---------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<brace>\{)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>==|!=|>=|<=|[-+*/^()<>,&|!])
""", re.X)

_PRECEDENCE = [("|",), ("&",), ("==", "!=", "<", ">", "<=", ">="), ("+", "-"), ("*", "/")]


class _Parser:
    """Expressions with Stata's precedence (``-2^2`` is -4); braces read by :class:`_Reader`."""

    def __init__(self, text: str, reader: _Reader):
        self.text, self.reader = text, reader
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise SpecError(f"cannot read {text[pos:pos + 20]!r} in the menl expression "
                                f"{text!r}")
            if m.lastgroup == "brace":
                end = _closing_brace(text, pos)
                out.append(("brace", text[pos + 1:end]))
                pos = end + 1
                continue
            if m.lastgroup != "ws":
                out.append((m.lastgroup, m.group(0)))
            pos = m.end()
        return out

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self, value: str | None = None):
        kind, text = self.peek()
        if kind is None or (value is not None and text != value):
            where = f"at {text!r}" if kind else "at its end"
            raise SpecError(f"cannot parse the menl expression {self.text!r} {where}"
                            + (f": expected {value!r}" if value else ""))
        self.pos += 1
        return kind, text

    def parse(self):
        node = self.binary(0)
        if self.pos != len(self.tokens):
            raise SpecError(f"cannot parse the menl expression {self.text!r} at "
                            f"{self.peek()[1]!r}")
        return node

    def binary(self, level: int):
        if level == len(_PRECEDENCE):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in _PRECEDENCE[level]:
            op = self.take()[1]
            node = Binary(op, node, self.binary(level + 1))
        return node

    def unary(self):
        if self.peek() in (("op", "-"), ("op", "+"), ("op", "!")):
            op = self.take()[1]
            operand = self.unary()
            return operand if op == "+" else Unary(op, operand)
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            return Binary("^", base, self.unary())  # right-associative, binds tighter than -
        return base

    def atom(self):
        kind, text = self.take()
        if kind == "num":
            return Num(float(text))
        if kind == "brace":
            return self.reader.brace(text)
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(text)
            self.reader.variables.append(text)
            return Var(text)
        if text == "(":
            node = self.binary(0)
            self.take(")")
            return node
        raise SpecError(f"cannot parse the menl expression {self.text!r} at {text!r}")

    def call(self, name: str):
        if name.lower() not in FUNCTIONS:
            raise SpecError(f"unknown function {name}() in the menl expression; available: "
                            f"{', '.join(FUNCTIONS)}")
        self.take("(")
        args = [self.binary(0)]
        while self.peek() == ("op", ","):
            self.take()
            args.append(self.binary(0))
        self.take(")")
        return Call(name.lower(), tuple(args))


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += text[i] == "{"
        depth -= text[i] == "}"
        if depth == 0:
            return i
    raise SpecError(f"unbalanced brace in the menl expression: {text[start:start + 25]!r} "
                    "is never closed")


_EFFECT = re.compile(r"^([A-Za-z_]\w*)\s*\[\s*([A-Za-z_]\w*(?:\s*<\s*[A-Za-z_]\w*)*)\s*\]$")
_FACTOR = re.compile(r"^(\d+)\s*\.\s*([A-Za-z_]\w*)\s*#\s*(.+)$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")


class _Reader:
    """What one ``menl`` command's braces mean; collects parameters, effects and variables."""

    def __init__(self):
        self.fixed: list[str] = []
        self.random: dict[str, str] = {}
        self.variables: list[str] = []
        self.initial: dict[str, float] = {}
        self.inline: dict[str, object] = {}  # {lc: x1 x2} linear combinations

    def param(self, name: str) -> Param:
        if name in self.random:
            raise SpecError(f"{{{name}}} is used as a fixed parameter and as a random effect")
        if name not in self.fixed:
            self.fixed.append(name)
        return Param(name)

    def effect(self, name: str, level: str) -> Effect:
        level = re.sub(r"\s+", "", level)
        if name in self.fixed:
            raise SpecError(f"{name} is used as a fixed parameter and as a random effect")
        if self.random.setdefault(name, level) != level:
            raise SpecError(f"random effect {name} is given two levels: [{self.random[name]}] "
                            f"and [{level}]")
        return Effect(name, level)

    def brace(self, text: str):
        inner = text.strip()
        if not inner:
            raise SpecError("empty braces {} in the menl expression")
        m = _EFFECT.match(inner)
        if m:
            return self.effect(m.group(1), m.group(2))
        m = _FACTOR.match(inner)
        if m:
            return Binary("*", self.factor(m), self.term(m.group(3).strip(), inner))
        if ":" in inner:
            name, _, rest = inner.partition(":")
            name = name.strip()
            if not _NAME.match(name):
                raise SpecError(f"cannot read {{{inner}}}: {name!r} is not a valid name")
            body, opts = _split_comma(rest)
            if not body.strip():
                return Named(name)
            words = body.split()
            if len(words) == 1 and "xb" not in opts.split() and _NAME.match(words[0]):
                return self.param(f"{name}:{words[0]}")  # {phi1:x1} is one parameter
            self.inline[name] = self.linear(name, body, opts)
            return Named(name)
        name, eq, value = inner.partition("=")
        name = name.strip()
        if not _NAME.match(name):
            raise SpecError(f"cannot read {{{inner}}}: write {{b1}} for a parameter, "
                            "{U[group]} for a random effect, {phi:} for a named expression")
        if eq:
            self.initial[name] = _number(value, f"{{{inner}}}")
        return self.param(name)

    def factor(self, match) -> Indicator:
        self.variables.append(match.group(2))
        return Indicator(float(match.group(1)), match.group(2))

    def term(self, text: str, where: str):
        m = _EFFECT.match(text)
        if m:
            return self.effect(m.group(1), m.group(2))
        if text.startswith("c.") and _NAME.match(text[2:]):
            self.variables.append(text[2:])
            return Var(text[2:])
        raise SpecError(f"cannot read {where!r}: after # write a random effect U[group] or "
                        "c.varname")

    def linear(self, name: str, body: str, opts: str):
        """``x1 x2 U0[plot] 1.v#U1[plot]``: {name:x1}*x1 + ... + U0 + 1.v*U1 + {name:_cons}."""
        options = {o.strip().lower() for o in opts.split() if o.strip()}
        bad = options - {"xb", "noconstant", "nocons"}
        if bad:
            raise SpecError(f"option {sorted(bad)[0]} not allowed in the linear combination "
                            f"{name}: (use xb or noconstant)")
        terms = []
        for word in _terms(body):
            m = _EFFECT.match(word)
            f = _FACTOR.match(word)
            if m:
                terms.append(self.effect(m.group(1), m.group(2)))
            elif f:
                terms.append(Binary("*", self.factor(f), self.term(f.group(3).strip(), word)))
            elif _NAME.match(word) or (word.startswith("c.") and _NAME.match(word[2:])):
                var = word.removeprefix("c.")
                self.variables.append(var)
                terms.append(Binary("*", self.param(f"{name}:{var}"), Var(var)))
            elif word.startswith(("i.", "ib")):
                raise SpecError(f"factor variables like {word} are not supported in menl's "
                                f"linear combinations yet; make indicator columns and list "
                                f"them (or write 1.var#U[group] for one level)")
            else:
                raise SpecError(f"cannot read {word!r} in the linear combination {name}:")
        if not ({"noconstant", "nocons"} & options):
            terms.append(self.param(f"{name}:_cons"))
        if not terms:
            raise SpecError(f"the linear combination {name}: is empty")
        node = terms[0]
        for t in terms[1:]:
            node = Binary("+", node, t)
        return node


def _terms(body: str) -> list[str]:
    """Space-separated terms, keeping ``U[plot < zone]`` whole."""
    return split_words(body, "[", "]")[0]


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"{where}: {text.strip()!r} is not a number") from None


# ---- the command ---------------------------------------------------------------------------
def parse_menl(text: str) -> MenlSpec:
    """Read ``[menl] y = expression [if] [in] [, options]``."""
    command = text.strip()
    command = re.sub(r"^menl\b", "", command).strip()
    _check_balance(command, "the menl command")
    body, opts = _split_comma(command)
    body, if_exp, in_range = _qualifiers(body)
    lhs, eq, rhs = body.partition("=")
    response = lhs.strip()
    if not eq or not rhs.strip():
        raise SpecError("menl needs an equation: menl y = expression, e.g. "
                        "menl weight = {b1}/(1+exp(-(Time-{b2})/{b3}))")
    if not _NAME.match(response):
        raise SpecError(f"the left side of menl's equation must be a variable name, not "
                        f"{response!r}")
    reader = _Reader()
    define_texts: dict[str, str] = {}
    spec = MenlSpec(response, None, {}, [], {}, [])
    for name, arg in _options(opts):
        _option(spec, reader, define_texts, name, arg)
    defines = {name: _define(name, body_text, reader)  # first: parameters in Stata's order
               for name, body_text in define_texts.items()}
    mean = _Parser(rhs.strip(), reader).parse()
    defines = {**reader.inline, **defines}
    _check_named(mean, defines)
    spec.mean, spec.defines = mean, defines
    spec.fixed, spec.random = reader.fixed, reader.random
    spec.variables = list(dict.fromkeys(reader.variables))
    unknown = [k for k in spec.initial if k not in spec.fixed]
    if unknown:
        raise SpecError(f"initial() gives {unknown[0]}, which is not a parameter of the model "
                        f"(parameters: {', '.join(spec.fixed)})")
    spec.initial = {**reader.initial, **spec.initial}
    spec.if_exp, spec.in_range = if_exp, in_range
    return spec


_IGNORED = {"mle", "nolog", "log", "variance", "stddeviations", "noheader", "notable",
            "nolrtest", "nostderr"}


def _option(spec: MenlSpec, reader: _Reader, define_texts: dict, name: str,
            arg: str | None) -> None:
    full = _full_option(name)
    if full == "define":
        dname, colon, body = (arg or "").partition(":")
        dname = dname.strip()
        if not colon or not _NAME.match(dname) or not body.strip():
            raise SpecError(f"define({arg}): write define(name: expression), e.g. "
                            "define(phi1: {b1}+{U[plot]})")
        if dname in define_texts:
            raise SpecError(f"define({dname}: ...) is given twice")
        define_texts[dname] = body
    elif full == "initial":
        spec.initial.update(_initial(arg or ""))
    elif full == "covariance":
        effects, _, kind = (arg or "").rpartition(",")
        if not effects.strip() or not kind.strip():
            raise SpecError(f"covariance({arg}): write covariance(U1 U2, unstructured)")
        names = tuple(effects.split())
        spec.covariance[names if len(names) > 1 else names[0]] = kind.strip()
    elif full == "resvariance":
        spec.resvariance = arg
    elif full == "rescorrelation":
        spec.rescorrelation = parse_rescorrelation(arg or "")
    elif full == "rescovariance":
        spec.rescovariance = parse_rescovariance(arg or "")
    elif full == "reml":
        spec.reml = True
    elif full == "intmethod":
        kind = (arg or "").strip().lower()
        if len(kind) >= 5 and "mvaghermite".startswith(kind):
            kind = "mvaghermite"
        if kind not in ("laplace", "linearization", "mvaghermite"):
            raise SpecError(f"intmethod({arg}): linearization, laplace or mvaghermite "
                            "(adaptive Gauss-Hermite quadrature)")
        spec.method = kind
    elif full == "intpoints":
        value = _number(arg or "", "intpoints()")
        if value != int(value) or not 1 <= value <= 128:
            raise SpecError(f"intpoints({arg}) must be an integer from 1 to 128")
        spec.intpoints = int(value)
    elif full == "level":
        spec.level = _number(arg or "", "level()")
    elif full not in _IGNORED:
        raise SpecError(f"option {name} not allowed with menl; use define(), initial(), "
                        "covariance(), resvariance(), rescorrelation(), rescovariance(), "
                        "reml, level()")


_ABBREVIATIONS = {"define": "def", "initial": "init", "covariance": "cov",
                  "resvariance": "resvar", "rescorrelation": "rescorr",
                  "rescovariance": "rescov", "reml": "reml",
                  "level": "l", "intmethod": "intm", "intpoints": "intp",
                  "stddeviations": "stddev",
                  "variance": "var"}


def _full_option(word: str) -> str:
    for full, shortest in _ABBREVIATIONS.items():
        if full.startswith(word) and word.startswith(shortest):
            return full
    return word


def _initial(text: str) -> dict[str, float]:
    """``b1 19 b2 55`` or ``{b1} 19 {phi1:_cons} 2`` -> {name: value}."""
    words = text.replace("{", " ").replace("}", " ").replace("=", " ").split()
    if len(words) % 2:
        raise SpecError(f"initial({text}): give pairs of a parameter and a value, e.g. "
                        "initial(b1 19 b2 55)")
    return {words[i]: _number(words[i + 1], f"initial({text})")
            for i in range(0, len(words), 2)}


def _define(name: str, body: str, reader: _Reader):
    """A define() body: an expression if it has braces, else a linear combination."""
    text, opts = _split_comma(body)
    if "{" in text:
        if opts:
            raise SpecError(f"define({name}: ...): options ({opts}) go with a linear "
                            "combination (no braces)")
        return _Parser(text, reader).parse()
    return reader.linear(name, text, opts)


def _named_refs(node) -> set[str]:
    if isinstance(node, Named):
        return {node.name}
    if isinstance(node, Binary):
        return _named_refs(node.left) | _named_refs(node.right)
    if isinstance(node, Unary):
        return _named_refs(node.operand)
    if isinstance(node, Call):
        return set().union(*(_named_refs(a) for a in node.args))
    return set()


def _check_named(mean, defines: dict) -> None:
    """Every {name:} is defined, no define() refers to itself through others, none unused."""
    def visit(name: str, path: list[str]):
        if name in path:
            loop = " -> ".join(path[path.index(name):] + [name])
            raise SpecError(f"define() loop: {loop}; a named expression cannot use itself")
        if name not in defines:
            raise SpecError(f"{{{name}:}} is used but never defined; add define({name}: ...)")
        for ref in sorted(_named_refs(defines[name])):
            visit(ref, path + [name])

    used = set()
    for ref in sorted(_named_refs(mean)):
        visit(ref, [])
    stack = list(_named_refs(mean))
    while stack:
        name = stack.pop()
        if name not in used:
            used.add(name)
            stack += list(_named_refs(defines[name]))
    unused = [n for n in defines if n not in used]
    if unused:
        raise SpecError(f"define({unused[0]}: ...) is never used in the expression; refer to "
                        f"it as {{{unused[0]}:}}")
