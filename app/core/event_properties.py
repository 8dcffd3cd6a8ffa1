"""Per-type property schemas: what each event type's ``properties`` must hold.

One JSON Schema per type in ``topics/schemas/properties/<Type>.schema.json`` (``OrderPlaced``
needs an ``order_id`` and a numeric ``total``; most types only type the fields they name and
allow others). An event whose properties break its type's schema is invalid: the reason names
the path of the problem (``properties of OrderPlaced: properties.total must be number``), and
ingest dead-letters it as it does any invalid envelope; ``segue replay`` skips it the same way.

How much is enforced is the estate's choice (``SEGUE_PROPERTY_SCHEMAS``):

- ``types`` (the default): a field that is there must have its type (``total`` a number), but
  ``required`` lists are not enforced, so a producer that leaves out a field loses nothing (an
  ``OrderPlaced`` with a ``total`` and no ``order_id`` still converts a journey's goal);
- ``strict``: the schemas whole, ``required`` included;
- ``off``: no property is checked.

A type without a schema passes (an estate's own events), unless the rules say ``reject``
(``SEGUE_UNKNOWN_EVENT_TYPES=reject``). The rules are process-wide (``use_rules``): the worker
and the CLI set them once at start from the settings, so live and replay judge alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from app.paths import SCHEMAS_DIR

PROPERTIES_DIR = SCHEMAS_DIR / "properties"
_SUFFIX = ".schema.json"
MODES = ("types", "strict", "off")


class PropertyProblem(ValueError):
    """The properties break their type's schema (or the type is unknown and rejected)."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class PropertyRules:
    """The compiled schemas by event type, and what to do with a type that has none."""

    def __init__(
        self,
        validators: dict[str, Callable[[Any], Any]],
        reject_unknown: bool = False,
        enabled: bool = True,
    ) -> None:
        self.validators = validators
        self.reject_unknown = reject_unknown
        self.enabled = enabled

    @classmethod
    def load(
        cls, mode: str = "types", reject_unknown: bool = False, folder: Path = PROPERTIES_DIR
    ) -> PropertyRules:
        if mode not in MODES:
            raise ValueError(f"property schemas: {mode!r} is not one of {', '.join(MODES)}")
        validators: dict[str, Callable[[Any], Any]] = {}
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{_SUFFIX}")):
                schema = orjson.loads(path.read_bytes())
                if mode != "strict":
                    schema = _without_required(schema)
                validators[path.name[: -len(_SUFFIX)]] = fastjsonschema.compile(schema)
        return cls(validators, reject_unknown, enabled=mode != "off")

    def check(self, kind: str, properties: dict[str, Any]) -> None:
        """Raise :class:`PropertyProblem` when ``properties`` break the rules for ``kind``."""
        if not self.enabled:
            return
        validate = self.validators.get(kind)
        if validate is None:
            if self.reject_unknown:
                raise PropertyProblem(
                    f"unknown event type {kind!r}: no property schema for it "
                    "(SEGUE_UNKNOWN_EVENT_TYPES=reject)",
                    "type",
                )
            return
        try:
            validate(properties)
        except fastjsonschema.JsonSchemaValueException as exc:
            # fastjsonschema names the validated value "data": here it is the properties
            name = exc.name or "data"
            path = "properties" + (name[4:] if name.startswith("data") else "")
            if exc.rule == "required" and isinstance(exc.value, dict):
                missing = [f for f in exc.rule_definition if f not in exc.value]
                path = f"{path}.{missing[0]}" if missing else path
                message = f"{path} is required"
            else:
                message = exc.message.replace(name, path, 1)
            raise PropertyProblem(f"properties of {kind}: {message}", path) from None


def _without_required(schema: Any) -> Any:
    """The schema with every ``required`` list dropped (the ``types`` mode)."""
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


_rules = PropertyRules.load()


def use_rules(rules: PropertyRules) -> None:
    """Make ``rules`` the process's (the worker and the CLI call it once, from the settings)."""
    global _rules
    _rules = rules


def rules() -> PropertyRules:
    return _rules
