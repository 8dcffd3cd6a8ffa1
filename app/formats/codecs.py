"""Records in and out in each topic's format: ``json``, ``avro`` or ``json_schema``.

Writing follows the topic's declared format (topics/topics.yaml ``format:``, overridden by
``SEGUE_TOPIC_FORMATS``): JSON text, or the Confluent wire format with the id the registry gave
the topic's schema. Reading accepts every format whatever the topic declares, told apart by the
first byte (app/formats/wire.py): an estate can move its producers from JSON to Avro one at a
time. A framed record's schema comes from the registry by its id, once per id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from app.formats.avro_records import AvroShape, AvroShapeError
from app.formats.wire import WireFormatError, frame, framed, unframe

if TYPE_CHECKING:  # the registry client (httpx, authlib: ~0.3 s to import) only when asked
    from app.formats.registry import SchemaCache

CONTENT_TYPES = {
    "json": "application/json",
    "avro": "application/avro",
    "json_schema": "application/json",
}


class FormatProblem(ValueError):
    """A record that cannot be read: ``reason`` says why (for the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse(reason: str) -> Callable[[memoryview], Any]:
    def refuse(_body: memoryview) -> Any:
        raise FormatProblem(reason)

    return refuse


@dataclass(frozen=True)
class Writer:
    """How one topic's records are written."""

    format: str = "json"
    schema_id: int | None = None
    shape: AvroShape | None = None
    #: the record headers naming the format (content type, schema id)
    headers: tuple[tuple[str, str | bytes | None], ...] = field(
        default=(("content-type", b"application/json"),)
    )

    def encode(self, obj: dict[str, Any]) -> bytes:
        if self.format == "json":
            return orjson.dumps(obj)
        assert self.schema_id is not None
        if self.shape is not None:
            return frame(self.schema_id, self.shape.write(obj))
        return frame(self.schema_id, orjson.dumps(obj))


JSON_WRITER = Writer()


def writer_for(fmt: str, schema_id: int | None = None, shape: AvroShape | None = None) -> Writer:
    headers: tuple[tuple[str, str | bytes | None], ...] = (
        ("content-type", CONTENT_TYPES[fmt].encode()),
    )
    if schema_id is not None:
        headers += (("segue-schema-id", str(schema_id).encode()),)
    return Writer(fmt, schema_id, shape, headers)


class Decoder:
    """Any record Segue reads, JSON or framed, as a dict (or a FormatProblem saying why not)."""

    def __init__(self, cache: SchemaCache | None = None) -> None:
        self.cache = cache
        self._readers: dict[int, Callable[[memoryview], Any]] = {}

    def loads(self, raw: bytes) -> Any:
        """The decoded value of ``raw`` (JSON text or the wire format)."""
        if framed(raw):
            return self.wire_object(raw)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FormatProblem(f"bad JSON: {exc}") from None

    def wire_object(self, raw: bytes) -> Any:
        try:
            schema_id, body = unframe(raw)
        except WireFormatError as exc:
            raise FormatProblem(str(exc)) from None
        read = self._readers.get(schema_id)
        if read is None:
            read = self._reader(schema_id)
        try:
            return read(body)
        except FormatProblem:
            raise
        except AvroShapeError as exc:
            raise FormatProblem(f"schema id {schema_id}: {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise FormatProblem(f"schema id {schema_id}: bad JSON: {exc}") from None

    def _reader(self, schema_id: int) -> Callable[[memoryview], Any]:
        """The reader of ``schema_id``'s records, kept; a schema the registry does not have or
        Segue cannot read is kept as its problem (each record of it says so without asking
        again). RegistryUnavailable goes up: the record is not at fault (app/formats/errors.py)."""
        from app.formats.registry import AVRO

        if self.cache is None:
            raise FormatProblem(
                f"a record in the Confluent wire format (schema id {schema_id}) but no schema "
                "registry is configured (SEGUE_SCHEMA_REGISTRY_URL)"
            )
        try:
            read = self._reader_of(schema_id, *self.cache.get(schema_id), avro=AVRO)
        except KeyError:
            read = _refuse(f"schema id {schema_id} is not in the schema registry")
        except (TypeError, ValueError) as exc:
            read = _refuse(f"schema id {schema_id}: {exc}")
        self._readers[schema_id] = read
        return read

    @staticmethod
    def _reader_of(
        schema_id: int, schema_type: str, schema: dict[str, Any], avro: str
    ) -> Callable[[memoryview], Any]:
        if schema_type == avro:
            try:
                return AvroShape(schema).read
            except (AvroShapeError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(str(exc)) from None
        if schema_type == "JSON":
            return orjson.loads
        raise ValueError(f"{schema_type} records are not read here")
