"""Compile-time checks of CEL expressions in definitions (the engine compiles them again).

``cel.compile`` catches syntax errors. It does not know which variables exist, so a typo such as
``evnt.type`` would only ever evaluate to false at run time; we report names outside the ones
the engine provides instead. Comprehension variables (``list.exists(x, ...)``) and CEL type
names (``type(v) == double``) are names too, and are allowed.
"""

from __future__ import annotations

import re

import cel

# What the engine binds when it evaluates an expression (spec: event, profile, scores, entry).
VARIABLES = frozenset({"event", "profile", "scores", "entry"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")


def compile_expression(source: str) -> cel.Program:
    """Compile one CEL expression; raises ValueError with CEL's message if it does not parse."""
    return cel.compile(source)


def expression_problem(source: str, allowed: frozenset[str] = VARIABLES) -> str | None:
    """A one-line description of what is wrong with ``source``, or None if it is fine."""
    try:
        program = compile_expression(source)
    except (ValueError, RuntimeError) as exc:
        return f"expression does not compile: {_condense(str(exc))}"
    bound = set(_MACRO_VARIABLE.findall(source))
    unknown = sorted(set(program.variables()) - allowed - bound - _TYPE_NAMES)
    if unknown:
        names = ", ".join(unknown)
        known = ", ".join(sorted(allowed))
        return f"expression uses unknown variable(s) {names}; available: {known}"
    return None


def _condense(message: str) -> str:
    """CEL reports multi-line errors with a caret picture; keep the first error on one line."""
    match = _CEL_ERROR.search(message)
    if match is None:
        return message.strip().splitlines()[0] if message.strip() else "syntax error"
    line, column, text = match.groups()
    where = f"column {column}" if line == "1" else f"line {line}, column {column}"
    return f"{text.strip()} (at {where})"
