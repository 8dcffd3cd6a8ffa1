"""Compile-time checks of CEL expressions in definitions (the engine compiles them again).

``cel.compile`` catches syntax errors. It does not know which variables or functions exist, so a
typo such as ``evnt.type`` or ``max(a, b)`` would only ever evaluate to false at run time; we
report names outside the ones the engine provides instead. Comprehension variables
(``list.exists(x, ...)``) and CEL type names (``type(v) == double``) are names too, and are
allowed.
"""

from __future__ import annotations

import difflib
import re

import cel

# What the engine binds when it evaluates an expression (spec: event, profile, scores, entry,
# now).
VARIABLES = frozenset({"event", "profile", "scores", "entry", "now"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
# The functions the engine's CEL runtime knows. The engine registers none of its own (it
# evaluates with plain variables, ``moment.py``), so these are the runtime's built-ins: every
# other name fails each evaluation ("Undefined variable or function"). The macros (has, all,
# exists, exists_one, map, filter) and the operators are not functions to ``Program.functions``.
# The optional-value functions (of, value, orValue, ...) are left out: they need the
# ``optional`` namespace, which is not a variable. tests/unit/test_journey_rules.py evaluates an
# example of each, so an upgrade of the runtime that drops one fails a test.
FUNCTIONS = frozenset(
    {
        *("size", "contains", "startsWith", "endsWith", "matches"),
        *("int", "uint", "double", "string", "bytes", "dyn", "type"),
        *("duration", "timestamp"),
        *("getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate"),
        *("getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds"),
    }
)
_FUNCTION_NAME = re.compile(r"[A-Za-z_]\w*")  # operators are named _&&_, @in, !_ ...
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
    calls = {name for name in program.functions() if _FUNCTION_NAME.fullmatch(name)}
    unknown = sorted(calls - FUNCTIONS)
    if unknown:
        names = ", ".join(name + _did_you_mean(name, FUNCTIONS) for name in unknown)
        return (
            f"expression calls unknown function(s) {names}; "
            "the functions CEL provides here are listed in docs/journeys.md"
        )
    return None


def _did_you_mean(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _condense(message: str) -> str:
    """CEL reports multi-line errors with a caret picture; keep the first error on one line."""
    match = _CEL_ERROR.search(message)
    if match is None:
        return message.strip().splitlines()[0] if message.strip() else "syntax error"
    line, column, text = match.groups()
    where = f"column {column}" if line == "1" else f"line {line}, column {column}"
    return f"{text.strip()} (at {where})"
