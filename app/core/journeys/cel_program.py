"""CEL expressions: compiled once, evaluated against *projected* variables.

Handing CEL a whole profile costs ~25 us per evaluation (the binding converts every key of
every nested dict, each time). So each expression is analysed once, at compile time, for the
member paths it reads (``event.properties.cart_value`` needs ``event -> properties ->
cart_value`` and nothing else), and each evaluation converts only those paths: ~3 us.

A projection keeps the *absence* of a key (``has()`` and missing-field errors behave exactly
as on the full value); anything the analysis cannot follow (indexing, a whole map passed to a
function, a macro variable shadowing a root name) falls back to the whole value, so the
projection is an optimisation that never changes a result.

Only ``true`` counts as true; an evaluation error (missing field, type error, a variable that is
absent, such as ``event`` after a wait) counts as false and is counted by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import cel

#: the variables an expression may use; anything else is undefined (an evaluation error).
#: ``now`` is the moment's time (a CEL timestamp): the event's time, or a timer's due time.
ROOTS = ("event", "profile", "scores", "entry", "now")

#: a projection spec: ``True`` = the whole value, else {member: spec} for the members read
Spec = Any

_STRING = re.compile(
    r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.DOTALL,
)
_ROOT = re.compile(r"(?<![\w.])(" + "|".join(ROOTS) + r")\b")
_MEMBER = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")
# `m["key"]` and `"key" in m` read one member of a map: analysed as `m.key`, so that the
# projection keeps that key (or its absence) and not the whole map (``profile.last_event_at``
# holds a time per event type, each converted to a CEL timestamp when handed over).
_INDEX = re.compile(r"""\[\s*(["'])([A-Za-z_]\w*)\1\s*\]""")
_KEY_IN = re.compile(
    r"""(["'])([A-Za-z_]\w*)\1\s+in\s+((?:"""
    + "|".join(ROOTS)
    + r""")(?:\s*\.\s*[A-Za-z_]\w*)*)(?![\w.\[(])"""
)
# `list.exists(event, ...)` would shadow a root name inside the macro: give up projecting.
_SHADOW = re.compile(r"\(\s*(" + "|".join(ROOTS) + r")\s*,")


class ExpressionError(ValueError):
    """A CEL expression does not compile; ``source`` is the offending text."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"invalid expression {source!r}: {reason}")
        self.source = source
        self.reason = reason


def _add_path(tree: dict[str, Spec], path: list[str]) -> None:
    node: Any = tree
    for i, name in enumerate(path):
        if node is True:
            return
        if i == len(path) - 1:
            node[name] = True
        else:
            child = node.get(name)
            if child is None:
                child = node[name] = {}
            node = child


def read_paths(source: str) -> dict[str, Spec]:
    """The projection spec per root variable that ``source`` reads (static analysis)."""
    text = _KEY_IN.sub(r"\3.\2", _INDEX.sub(r".\2", source))
    text = _STRING.sub('""', text)
    specs: dict[str, Spec] = {}
    if _SHADOW.search(text):
        return {}  # caller treats a root with no spec as "whole"
    for match in _ROOT.finditer(text):
        root = match.group(1)
        path: list[str] = []
        pos = match.end()
        while True:
            member = _MEMBER.match(text, pos)
            if member is None:
                break
            path.append(member.group(1))
            pos = member.end()
        rest = text[pos:].lstrip()
        if path and rest.startswith("("):
            path.pop()  # `x.startsWith(...)`: a method call on the value before it
        current = specs.get(root)
        if current is True:
            continue
        if not path:
            specs[root] = True
            continue
        if current is None:
            current = specs[root] = {}
        _add_path(current, path)
    return specs


def project(value: Any, spec: Spec) -> Any:
    """Keep only the members ``spec`` names (recursively); absent members stay absent."""
    if spec is True or not isinstance(value, Mapping):
        return value
    out = {}
    for name, sub in spec.items():
        if name in value:
            member = value[name]
            out[name] = member if sub is True else project(member, sub)
    return out


def merge_specs(a: Spec | None, b: Spec | None) -> Spec | None:
    """The union of two projection specs (``None`` = nothing read)."""
    if a is None:
        return b
    if b is None:
        return a
    if a is True or b is True:
        return True
    merged = dict(a)
    for name, sub in b.items():
        merged[name] = merge_specs(merged.get(name), sub)
    return merged


class Expr:
    """One compiled CEL expression with the projection of every root variable it reads."""

    __slots__ = ("needs", "owner", "program", "source")

    def __init__(self, source: str, owner: str) -> None:
        try:
            self.program = cel.compile(source)
        except Exception as exc:  # the binding raises ValueError or RuntimeError
            raise ExpressionError(source, str(exc)) from None
        self.source = source
        #: whose failure counter an evaluation error increments (a journey id or "(policies)")
        self.owner = owner
        specs = read_paths(source)
        used = [name for name in ROOTS if name in set(self.program.variables())]
        #: (root, spec) pairs, in a fixed order
        self.needs: tuple[tuple[str, Spec], ...] = tuple(
            (name, specs.get(name, True)) for name in used
        )

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


def compile_optional(source: str | None, owner: str) -> Expr | None:
    return None if source is None else Expr(source, owner)
