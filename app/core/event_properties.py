"""Per-type property schemas: what each event type's ``properties`` must hold.

One JSON Schema per type in ``topics/schemas/properties/<Type>.schema.json`` (``OrderPlaced``
needs an ``order_id`` and a numeric ``total``; most types only type the fields they name and
allow others). An event whose properties break its type's schema is invalid: the reason names
the path of the problem (``properties of OrderPlaced: properties.total must be number``), and
ingest dead-letters it as it does any invalid envelope; ``segue replay`` skips it the same way.

How much is enforced is the estate's choice (``SEGUE_PROPERTY_SCHEMAS``):

- ``types`` (the default): a field that is there must have its type (``total`` a number), but
  ``required`` lists are not enforced and a null counts as absent, so a producer that leaves
  out a field (or sends it null) loses nothing (an ``OrderPlaced`` with a ``total`` and no
  ``order_id`` still converts a journey's goal; a receipt of a callback without a journey
  passes);
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
        plain: dict[str, PlainCheck] | None = None,
        nulls_absent: bool = True,
    ) -> None:
        self.validators = validators
        self.reject_unknown = reject_unknown
        self.enabled = enabled
        self.plain = plain or {}
        #: ``types``: a field that is null counts as absent (``strict``: it must fit the schema)
        self.nulls_absent = nulls_absent

    @classmethod
    def load(
        cls, mode: str = "types", reject_unknown: bool = False, folder: Path = PROPERTIES_DIR
    ) -> PropertyRules:
        if mode not in MODES:
            raise ValueError(f"property schemas: {mode!r} is not one of {', '.join(MODES)}")
        validators: dict[str, Callable[[Any], Any]] = {}
        plain: dict[str, PlainCheck] = {}
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{_SUFFIX}")):
                schema = orjson.loads(path.read_bytes())
                if mode != "strict":
                    schema = _without_required(schema)
                kind = path.name[: -len(_SUFFIX)]
                validators[kind] = fastjsonschema.compile(schema)
                plain[kind] = PlainCheck(schema, nulls_absent=mode != "strict")
        return cls(
            validators,
            reject_unknown,
            enabled=mode != "off",
            plain=plain,
            nulls_absent=mode != "strict",
        )

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
        plain = self.plain.get(kind)
        if plain is not None and plain.passes(properties):
            return
        if self.nulls_absent and None in properties.values():
            properties = {k: v for k, v in properties.items() if v is not None}
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


#: JSON Schema's types as the Python types orjson decodes them to (bool is not a number)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}
_PLAIN_FIELD_KEYS = frozenset({"type", "minimum", "description"})


class PlainCheck:
    """The common case of one type's schema, checked without the compiled validator: a field
    of a plain type (and a minimum) present with that type, every required field there. A
    subset of the schema: it never passes what the schema refuses (a property test holds it to
    that), and whatever it does not pass, the validator decides and says why. Most events take
    it; the validator alone cost ~6 us per event, as much as the rest of decoding."""

    __slots__ = ("complex", "fields", "nulls_absent", "required", "usable")

    def __init__(self, schema: dict[str, Any], nulls_absent: bool = True) -> None:
        self.nulls_absent = nulls_absent
        #: name -> (allowed Python types, minimum or None)
        self.fields: dict[str, tuple[tuple[type, ...], float | None]] = {}
        #: fields whose schema says more than that: present, the validator decides
        self.complex: frozenset[str] = frozenset()
        self.required = tuple(schema.get("required", ()))
        self.usable = schema.get("type") == "object" and not (
            schema.keys()
            - {"$schema", "$id", "title", "description", "type", "properties", "required"}
        )
        complex_names = []
        for name, field in (schema.get("properties") or {}).items():
            kinds = field.get("type") if isinstance(field, dict) else None
            names = [kinds] if isinstance(kinds, str) else kinds
            plain = (
                isinstance(field, dict)
                and not field.keys() - _PLAIN_FIELD_KEYS
                and isinstance(names, list)
                and all(n in _PY_TYPES for n in names)
            )
            if plain and isinstance(names, list):
                allowed = tuple(t for n in names for t in _PY_TYPES[n])
                self.fields[name] = (allowed, field.get("minimum"))
            else:
                complex_names.append(name)
        self.complex = frozenset(complex_names)

    def passes(self, properties: dict[str, Any]) -> bool:
        if not self.usable:
            return False
        fields, complex_, nulls_absent = self.fields, self.complex, self.nulls_absent
        for name, value in properties.items():
            if value is None and nulls_absent:
                continue
            rule = fields.get(name)
            if rule is None:
                if name in complex_:
                    return False
                continue  # a field the schema does not name: allowed
            kind = type(value)
            if kind not in rule[0]:
                return False
            minimum = rule[1]
            if minimum is not None and (kind is int or kind is float) and value < minimum:
                return False
        return all(properties.get(name) is not None for name in self.required)


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
