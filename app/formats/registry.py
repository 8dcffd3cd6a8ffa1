"""The schema registry: subjects, registration with a compatibility check, schemas by id.

Through confluent-kafka's ``SchemaRegistryClient`` (the Confluent REST API, which Apicurio
serves under ``/apis/ccompat/v7`` and Karapace at its root). Nothing here runs per record: the
codecs (app/formats/codecs.py) keep what they fetched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaRegistryClient,
    ServerConfig,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError

from app.formats.errors import (
    FormatSetupError,
    IncompatibleSchema,
    RegistryUnavailable,
    SchemaSetupError,
)
from app.formats.settings import DataSettings

AVRO, JSON = "AVRO", "JSON"
# the registry client's HTTP library logs every request at INFO: one line per schema looked up
# would bury a worker's start lines (and a refusal's one line)
for _name in ("httpx", "httpx2"):
    logging.getLogger(_name).setLevel(logging.WARNING)
_NOT_FOUND = (40401, 40403)  # subject not found, schema not found


__all__ = ["FormatSetupError", "IncompatibleSchema", "RegistryUnavailable", "SchemaSetupError"]


def make_client(data: DataSettings) -> SchemaRegistryClient:
    # new_client: a "mock://" URL gives confluent-kafka's in-memory registry (unit tests only)
    try:
        return SchemaRegistryClient.new_client(data.registry_conf())
    except ValueError as exc:  # e.g. a URL without http(s)://, user info twice
        raise FormatSetupError(f"SEGUE_SCHEMA_REGISTRY_URL: {exc}") from None


def subject_name(strategy: str, topic: str, record_name: str) -> str:
    """The subject of ``topic``'s value schema under the estate's naming strategy."""
    if strategy == "record":
        return record_name
    if strategy == "topic_record":
        return f"{topic}-{record_name}"
    return f"{topic}-value"


def record_name(schema_type: str, schema: dict[str, Any]) -> str:
    """An Avro record's full name; a JSON Schema's ``title`` (as Confluent's serdes name it)."""
    if schema_type == AVRO:
        namespace = schema.get("namespace")
        return f"{namespace}.{schema['name']}" if namespace else str(schema["name"])
    return str(schema.get("title") or "record")


@dataclass(frozen=True)
class Registered:
    subject: str
    schema_id: int
    created: bool  # a new version (or a new subject) was registered


def ensure_registered(
    client: SchemaRegistryClient,
    subject: str,
    schema_type: str,
    schema: dict[str, Any],
    compatibility: str = "BACKWARD",
) -> Registered:
    """The id of ``schema`` under ``subject``: found if registered, else registered after the
    subject's compatibility check; :class:`IncompatibleSchema` (nothing registered) when the
    change breaks it. A subject Segue creates gets ``compatibility`` (unless 'registry')."""
    candidate = Schema(orjson.dumps(schema).decode(), schema_type)
    try:
        try:
            found = client.lookup_schema(subject, candidate)
            return Registered(subject, int(found.schema_id or 0), False)
        except SchemaRegistryError as exc:
            if exc.error_code not in _NOT_FOUND and exc.http_status_code != 404:
                raise
        exists = subject in client.get_subjects()
        if exists and not client.test_compatibility(subject, candidate):
            level = _level(client, subject)
            why = (
                explain_avro_change(_latest(client, subject), schema) if schema_type == AVRO else []
            )
            detail = f": {'; '.join(why)}" if why else ""
            raise IncompatibleSchema(
                f"{subject}: the new schema is not {level}-compatible with the registered "
                f"version{detail}; nothing was registered (make the change compatible, e.g. "
                "give a new field a default, or register it under a new subject)"
            )
        schema_id = client.register_schema(subject, candidate)
        if not exists and compatibility != "registry":
            level = ConfigCompatibilityLevel(compatibility)
            client.set_config(subject, ServerConfig(compatibility=level))
        return Registered(subject, int(schema_id), True)
    except SchemaRegistryError as exc:
        raise RegistryUnavailable(f"schema registry refused {subject}: {exc}") from None
    except (OSError, ConnectionError) as exc:
        raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):  # the client's transport
            raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None
        raise


def _level(client: SchemaRegistryClient, subject: str) -> str:
    try:
        return str(client.get_compatibility(subject))
    except SchemaRegistryError:
        try:
            return str(client.get_compatibility())
        except SchemaRegistryError:
            return "the subject's"


def _latest(client: SchemaRegistryClient, subject: str) -> dict[str, Any]:
    try:
        latest = client.get_latest_version(subject)
        return dict(orjson.loads(latest.schema.schema_str or "{}"))
    except (SchemaRegistryError, ValueError):
        return {}


def explain_avro_change(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why a reader of one Avro record schema could not read the other, field by field (the
    registry says only yes or no): what a user needs to mend the change."""
    if not old or old.get("type") != "record" or new.get("type") != "record":
        return []
    before = {f["name"]: f for f in old.get("fields", [])}
    after = {f["name"]: f for f in new.get("fields", [])}
    problems = []
    for name, field in after.items():
        if name not in before and "default" not in field:
            problems.append(f"field {name!r} added without a default")
    for name, field in before.items():
        if name not in after and "default" not in field:
            problems.append(f"field {name!r} removed (it has no default)")
    for name in before.keys() & after.keys():
        if orjson.dumps(before[name]["type"]) != orjson.dumps(after[name]["type"]):
            problems.append(
                f"field {name!r} changed type from {_type_text(before[name]['type'])} "
                f"to {_type_text(after[name]['type'])}"
            )
    return problems


def _type_text(avro_type: Any) -> str:
    return avro_type if isinstance(avro_type, str) else orjson.dumps(avro_type).decode()


class SchemaCache:
    """Schemas by id, fetched once each (the decoders' source)."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self._by_id: dict[int, tuple[str, dict[str, Any]]] = {}

    def preload(self, schema_id: int, schema_type: str, schema: dict[str, Any]) -> None:
        """A schema known without asking (one this process registered or looked up)."""
        self._by_id[schema_id] = (schema_type, schema)

    def get(self, schema_id: int) -> tuple[str, dict[str, Any]]:
        """(schema type, parsed schema) of ``schema_id``; KeyError when the registry has none;
        TypeError for a schema that is not an object; RegistryUnavailable when it cannot be
        asked."""
        found = self._by_id.get(schema_id)
        if found is not None:
            return found
        try:
            schema = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise KeyError(schema_id) from None
            raise RegistryUnavailable(f"schema registry: schema id {schema_id}: {exc}") from None
        except Exception as exc:
            raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None
        loaded = orjson.loads(schema.schema_str or "{}")
        if not isinstance(loaded, dict):  # an Avro primitive or union, a JSON Schema `true`
            raise TypeError(f"schema id {schema_id} is not a record schema Segue reads")
        parsed = dict(loaded)
        schema_type = str(schema.schema_type or AVRO)
        if (
            schema_type == AVRO
            and "fields" not in parsed
            and ("$schema" in parsed or "properties" in parsed)
        ):
            # Apicurio 2.4's ccompat API leaves schemaType out of GET /schemas/ids/{id}, and
            # the client then says AVRO: a JSON Schema is told by its own keywords
            schema_type = JSON
        found = (schema_type, parsed)
        self._by_id[schema_id] = found
        return found
