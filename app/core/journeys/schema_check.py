"""Validate a document against a published JSON Schema and word the errors for authors.

jsonschema's own messages ("Additional properties are not allowed ...", "... is not valid under
any of the given schemas") are written for schema authors. Each error here becomes a problem at the
exact field it concerns, with a message saying what is expected and what was found. A subschema
may carry an ``x-message`` annotation that replaces the generic wording.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import cache
from typing import Any

import jsonschema

from app.core.journeys.problems import DefinitionProblem, PathParts, format_path
from app.paths import JOURNEYS_DIR

SCHEMA_DIR = JOURNEYS_DIR / "schema"
STEP_KINDS = ("send", "wait", "wait_for", "branch", "split", "decide", "update")

LineOf = Callable[[PathParts], int | None]


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The published schema ``journeys/schema/{name}.schema.json`` (journey or policies)."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(name))


def schema_problems(
    doc: Any, schema_name: str, source: str, line_of: LineOf | None = None
) -> list[DefinitionProblem]:
    """Every schema violation in ``doc``, ordered by location."""
    found: dict[tuple[PathParts, str], None] = {}  # jsonschema repeats some errors: dedupe
    for error in _validator(schema_name).iter_errors(doc):
        found.update(dict.fromkeys(_explain(error)))
    problems = [
        DefinitionProblem(source, format_path(path), message, line_of(path) if line_of else None)
        for path, message in sorted(found, key=lambda item: _sort_key(item[0]))
    ]
    return problems


def _sort_key(path: PathParts) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[PathParts, str]]:
    path: PathParts = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    kind = error.validator
    custom = schema.get("x-message")

    if "propertyNames" in error.relative_schema_path:
        yield (
            (*path, str(instance)),
            f"invalid name {instance!r}: must match [A-Za-z_][A-Za-z0-9_]*",
        )
    elif kind == "required":
        for name in error.validator_value:
            if isinstance(instance, dict) and name not in instance:
                yield (*path, name), "required field is missing"
    elif kind == "dependentRequired":
        for trigger, needed in error.validator_value.items():
            if isinstance(instance, dict) and trigger in instance:
                for name in needed:
                    if name not in instance:
                        yield (*path, name), f"required when {trigger!r} is set"
    elif kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield (*path, key), _unknown_field(str(key), allowed)
    elif kind == "oneOf" and schema.get("oneOf") and "id" in schema.get("properties", {}):
        if isinstance(instance, dict):  # otherwise the type error says it all
            yield path, _step_kind_message(instance, custom)
    elif custom and not (kind == "type" and _is_container(error.validator_value)):
        yield path, f"{custom} (got {_describe(instance)})"
    elif kind == "type":
        yield path, f"must be {_type_words(error.validator_value)} (got {_describe(instance)})"
    elif kind == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        hint = _did_you_mean(instance, [str(v) for v in error.validator_value])
        yield path, f"must be one of {options} (got {_describe(instance)}){hint}"
    elif kind == "minimum":
        yield path, f"must be at least {error.validator_value} (got {_describe(instance)})"
    elif kind == "maximum":
        yield path, f"must be at most {error.validator_value} (got {_describe(instance)})"
    elif kind == "exclusiveMinimum":
        yield path, f"must be greater than {error.validator_value} (got {_describe(instance)})"
    elif kind in {"minItems", "minLength", "minProperties"} and error.validator_value == 1:
        yield path, "must not be empty"
    elif kind == "maxLength":
        yield path, f"must be at most {error.validator_value} characters long"
    elif kind == "uniqueItems":
        yield path, "must not list the same item twice"
    else:
        yield path, error.message


def _is_container(expected: Any) -> bool:
    names = [expected] if isinstance(expected, str) else list(expected)
    return "object" in names or "array" in names


def _step_kind_message(step: Any, custom: str | None) -> str:
    kinds = [k for k in STEP_KINDS if isinstance(step, dict) and k in step]
    if len(kinds) > 1:
        return f"a step has exactly one kind, this one has {len(kinds)}: {', '.join(kinds)}"
    return custom or "a step needs exactly one kind"


def _unknown_field(key: str, allowed: list[str]) -> str:
    hint = _did_you_mean(key, allowed)
    return f"unknown field (allowed here: {', '.join(allowed)}){hint}"


def _did_you_mean(value: Any, options: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_words(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    if len(names) > 1 and "null" in names:  # null means "left out": not worth suggesting
        names.remove("null")
    return " or ".join(_TYPE_NAMES.get(n, n) for n in names)


def _describe(value: Any) -> str:
    """How a YAML author would name the value they wrote."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, datetime | date):
        return f"date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
