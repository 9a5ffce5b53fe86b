"""A small, safe expression language for runbook templates and `when` conditions.

No ``eval``: expressions are tokenised and parsed here into a tiny tree, and evaluated
against a plain dict namespace. What it can do:

- paths: ``params.namespace``, ``steps.find.count``, ``steps.find.refs[0]``
- literals: numbers, 'strings' or "strings", true/false/null, [lists]
- comparisons: == != < <= > >= in, and ``not``/``and``/``or``, parentheses
- ``len(x)`` is the only function

A template string holds ``{{ expr }}`` parts. A string that is exactly one ``{{ expr }}``
evaluates to the value itself (a list stays a list); otherwise parts are rendered as
text inside the string.

References are checked without evaluating: :func:`references` lists the paths an
expression reads, which the loader validates against the declared parameters and the
earlier steps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?) |
    (?P<str>'[^']*'|"[^"]*") |
    (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.) |
    (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
_PART = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class TemplateError(ValueError):
    """A malformed expression; ``offset`` is the character position inside it."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Path:
    parts: tuple[str | int, ...]

    def text(self) -> str:
        out = ""
        for p in self.parts:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out


Node = Any  # tuples: ("lit", v) ("path", Path) ("not", n) ("and"|"or", a, b) ("cmp", op, a, b)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected character {text[pos:].strip()[:1]!r}", pos)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise TemplateError(
                f"expression ends early{f', expected {value!r}' if value else ''}", len(self.text)
            )
        if value is not None and tok[1] != value:
            raise TemplateError(f"expected {value!r}, found {tok[1]!r}", tok[2])
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] == value and tok[0] in ("op", "name")

    def parse(self) -> Node:
        if not self.toks:
            raise TemplateError("empty expression")
        node = self.or_()
        tok = self.peek()
        if tok is not None:
            raise TemplateError(f"unexpected {tok[1]!r}", tok[2])
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.primary()
        tok = self.peek()
        if tok is not None and tok[1] in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self.take()
            node = ("cmp", tok[1], node, self.primary())
        elif (
            tok is not None
            and tok[1] == "not"
            and self.i + 1 < len(self.toks)
            and self.toks[self.i + 1][1] == "in"
        ):
            self.take()
            self.take()
            node = ("not", ("cmp", "in", node, self.primary()))
        return node

    def primary(self) -> Node:
        kind, value, pos = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("lit", value[1:-1])
        if value == "(":
            node = self.or_()
            self.take(")")
            return node
        if value == "[":
            items = []
            while not self.at("]"):
                items.append(self.or_())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            return ("list", tuple(items))
        if kind == "name":
            if value in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[value])
            if value in _KEYWORDS:
                raise TemplateError(f"unexpected {value!r}", pos)
            if value == "len" and self.at("("):
                self.take("(")
                arg = self.or_()
                self.take(")")
                return ("len", arg)
            parts: list[str | int] = [value]
            while self.at(".") or self.at("["):
                if self.take()[1] == ".":
                    k, name, p = self.take()
                    if k != "name":
                        raise TemplateError(f"expected a name after '.', found {name!r}", p)
                    parts.append(name)
                else:
                    k, num, p = self.take()
                    if k != "num" or "." in num:
                        raise TemplateError(f"expected an index, found {num!r}", p)
                    parts.append(int(num))
                    self.take("]")
            return ("path", Path(tuple(parts)))
        raise TemplateError(f"unexpected {value!r}", pos)


def parse(expression: str) -> Node:
    return _Parser(expression).parse()


def references(node: Node) -> list[Path]:
    if not isinstance(node, tuple):
        return []
    if node[0] == "path":
        return [node[1]]
    out: list[Path] = []
    for child in node[1:]:
        if isinstance(child, tuple) and child and isinstance(child[0], str):
            out += references(child)
        elif isinstance(child, tuple):
            for item in child:
                out += references(item)
    return out


class EvalError(ValueError):
    pass


def _lookup(path: Path, scope: Mapping[str, Any]) -> Any:
    value: Any = scope
    for part in path.parts:
        if isinstance(part, int):
            if not isinstance(value, list | tuple) or not -len(value) <= part < len(value):
                raise EvalError(f"{path.text()}: no item {part}")
            value = value[part]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise EvalError(f"{path.text()}: no value (has that step run?)")
    return value


def evaluate(node: Node, scope: Mapping[str, Any]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "path":
        return _lookup(node[1], scope)
    if op == "list":
        return [evaluate(n, scope) for n in node[1]]
    if op == "len":
        value = evaluate(node[1], scope)
        try:
            return len(value)
        except TypeError:
            raise EvalError(f"len() of {type(value).__name__}") from None
    if op == "not":
        return not evaluate(node[1], scope)
    if op == "and":
        return evaluate(node[1], scope) and evaluate(node[2], scope)
    if op == "or":
        return evaluate(node[1], scope) or evaluate(node[2], scope)
    if op == "cmp":
        left, right = evaluate(node[2], scope), evaluate(node[3], scope)
        try:
            return _compare(node[1], left, right)
        except TypeError as exc:
            raise EvalError(f"cannot compare {left!r} {node[1]} {right!r}: {exc}") from None
    raise EvalError(f"bad node {op!r}")


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    return left in right


@dataclass(frozen=True)
class Template:
    """A string with ``{{ expr }}`` parts, parsed once."""

    source: str
    parts: tuple[tuple[str, Node | None], ...]  # (literal text, None) or (expr text, node)

    @property
    def nodes(self) -> list[Node]:
        return [n for _, n in self.parts if n is not None]

    def render(self, scope: Mapping[str, Any]) -> Any:
        if len(self.parts) == 1 and self.parts[0][1] is not None:
            return evaluate(self.parts[0][1], scope)
        out = []
        for text, node in self.parts:
            if node is None:
                out.append(text)
            else:
                value = evaluate(node, scope)
                out.append(", ".join(map(str, value)) if isinstance(value, list) else str(value))
        return "".join(out)


def compile_template(text: str) -> Template:
    """Parse every ``{{ }}`` part; TemplateError.offset is relative to ``text``."""
    parts: list[tuple[str, Node | None]] = []
    pos = 0
    for m in _PART.finditer(text):
        if m.start() > pos:
            parts.append((text[pos : m.start()], None))
        try:
            parts.append((m.group(1), parse(m.group(1))))
        except TemplateError as exc:
            raise TemplateError(str(exc), m.start(1) + exc.offset) from None
        pos = m.end()
    if pos < len(text):
        rest = text[pos:]
        if "{{" in rest:
            raise TemplateError("'{{' without a closing '}}'", pos + rest.index("{{"))
        parts.append((rest, None))
    exprs = [p for p in parts if p[1] is not None]
    if len(exprs) == 1 and all(t.strip() == "" for t, n in parts if n is None):
        parts = exprs  # "{{ x }}" (even with whitespace around) yields the value itself
    return Template(text, tuple(parts))


def has_template(text: str) -> bool:
    return "{{" in text
