"""Segue's records (events, actions) as Avro data, and back: the body of an Avro record in the
Confluent wire format (app/formats/wire.py adds the magic byte and the schema id).

The schemas are ``topics/schemas/event.avsc`` and ``action.avsc``. Their free-form parts
(``properties``, ``context``, an action's ``data`` and ``profile``) are JSON object text: their
shape depends on the event type and nests, which one Avro record cannot say; per-type property
schemas type them after decoding (app/core/event_properties.py). An action's fields that its
schema does not name travel in ``extra`` (JSON object text), so an action survives the trip
whole. Reading takes the WRITER's schema (from the registry, by the record's id), so a record
written with an older or an estate's own schema decodes as it was written; a free-form field
written as an Avro map (rather than text) is taken as it is.

fastavro does the coding (its C extension; confluent-kafka's own AvroSerializer uses it too).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import fastavro
import orjson

from app.core.timeutil import format_ms

#: fields carried as JSON object text
JSON_TEXT = frozenset({"properties", "context", "data", "profile"})
EXTRA = "extra"


class AvroShapeError(ValueError):
    """An Avro body that does not decode into a record Segue can read."""


class AvroShape:
    """One parsed Avro record schema: write Segue dicts with it, read bodies written with it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        if schema.get("type") != "record":
            raise AvroShapeError(
                f"an Avro record schema is needed, got type {schema.get('type')!r}"
            )
        self.parsed = fastavro.parse_schema(schema)
        self.name = str(schema.get("namespace", "") and f"{schema['namespace']}.") + schema["name"]
        self.fields = tuple(field["name"] for field in schema["fields"])
        self._named = frozenset(self.fields)

    def to_datum(self, obj: dict[str, Any]) -> dict[str, Any]:
        datum: dict[str, Any] = {}
        for name in self.fields:
            if name == EXTRA:
                rest = {k: v for k, v in obj.items() if k not in self._named}
                datum[name] = orjson.dumps(rest).decode()
            elif name in JSON_TEXT:
                datum[name] = orjson.dumps(obj.get(name) or {}).decode()
            else:
                datum[name] = obj.get(name)
        return datum

    def write(self, obj: dict[str, Any]) -> bytes:
        """The Avro body of ``obj`` (raises ValueError/TypeError when it does not fit)."""
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.parsed, self.to_datum(obj))
        return out.getvalue()

    def read(self, body: bytes | memoryview) -> dict[str, Any]:
        """A Segue dict from an Avro body written with this schema; AvroShapeError when the
        bytes do not decode with it."""
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(body), self.parsed, None)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
            raise AvroShapeError(f"Avro body does not decode with {self.name}: {exc}") from None
        if not isinstance(datum, dict):
            raise AvroShapeError(f"Avro body of {self.name} is not a record")
        return from_datum(datum)


def from_datum(datum: dict[str, Any]) -> dict[str, Any]:
    """A decoded Avro record as the dict Segue's JSON form would give."""
    obj: dict[str, Any] = {}
    extra: dict[str, Any] | None = None
    for name, value in datum.items():
        if name == EXTRA and isinstance(value, str):
            extra = _json_object(name, value)
        elif name in JSON_TEXT and isinstance(value, str):
            obj[name] = _json_object(name, value)
        else:
            obj[name] = _plain(value)
    if extra:
        for name, value in extra.items():
            obj.setdefault(name, value)
    return obj


def _plain(value: Any) -> Any:
    """An Avro value as JSON has it: what fastavro gives for an estate's logical types and
    binary fields (a timestamp, a decimal, bytes, a uuid) made text or number, so an event
    reads (and replays, and prints) the same whatever its producer's schema."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, datetime):  # timestamp-millis/-micros (naive: local-timestamp, as UTC)
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return format_ms((moment - _EPOCH) // timedelta(milliseconds=1))
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return float(value)
    return str(value)  # uuid.UUID and anything else fastavro may give


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise AvroShapeError(f"{name}: not JSON object text ({exc})") from None
    if not isinstance(value, dict):
        raise AvroShapeError(f"{name}: JSON text of a {type(value).__name__}, not of an object")
    return value
