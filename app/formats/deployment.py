"""A deployment's formats: which topic is written how, its schema registered or looked up.

``topic_formats`` resolves each topic's format (topics.yaml, then ``SEGUE_TOPIC_FORMATS``);
``registered_writers`` registers (``segue topics apply``, a worker that creates topics) or only
looks up (``--no-create-topics``) the schema of each topic written in a wire format, checking
compatibility first.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from app.formats.avro_records import AvroShape
from app.formats.codecs import JSON_WRITER, Decoder, Writer, writer_for
from app.formats.errors import FormatSetupError
from app.formats.registry import (
    AVRO,
    JSON,
    Registered,
    RegistryUnavailable,
    SchemaCache,
    ensure_registered,
    make_client,
    record_name,
    subject_name,
)
from app.formats.settings import DataSettings
from app.paths import TOPICS_DIR
from app.settings import Settings
from app.topics.specs import TopicSpec, load_specs


def topic_formats(specs: list[TopicSpec], data: DataSettings) -> dict[str, str]:
    """Topic name (with the prefix) -> format, for the topics that declare or are given one."""
    overrides = data.overrides()
    out: dict[str, str] = {}
    for spec in specs:
        fmt = spec.format
        for pattern, given in overrides.items():
            if fnmatch.fnmatchcase(spec.declared_name, pattern):
                fmt = given
        out[spec.name] = fmt
    unknown = [
        p for p in overrides if not any(fnmatch.fnmatchcase(s.declared_name, p) for s in specs)
    ]
    if unknown:
        raise FormatSetupError(
            f"SEGUE_TOPIC_FORMATS names no topic of topics.yaml: {', '.join(unknown)}"
        )
    return out


def _schema_of(spec: TopicSpec, fmt: str) -> tuple[str, dict[str, Any]]:
    if fmt == "avro":
        if not spec.avro_schema:
            raise FormatSetupError(f"{spec.name}: avro needs an avro_schema in topics.yaml")
        return AVRO, orjson.loads((TOPICS_DIR / spec.avro_schema).read_bytes())
    if not spec.value_schema:
        raise FormatSetupError(f"{spec.name}: json_schema needs a value_schema in topics.yaml")
    return JSON, orjson.loads((TOPICS_DIR / spec.value_schema).read_bytes())


@dataclass
class Formats:
    """The writers of the topics written in a wire format (JSON elsewhere) and one decoder."""

    writers: dict[str, Writer] = field(default_factory=dict)
    decoder: Decoder = field(default_factory=Decoder)
    registered: list[Registered] = field(default_factory=list)

    def writer(self, topic: str) -> Writer:
        return self.writers.get(topic, JSON_WRITER)


def load_formats(
    settings: Settings,
    data: DataSettings | None = None,
    register: bool = True,
    client: SchemaRegistryClient | None = None,
) -> Formats:
    """The deployment's formats. ``register``: register each wire-format topic's schema
    (after the compatibility check); else only look its id up (refused if absent).
    ``client``: the registry's (default: one made from ``data``)."""
    data = data or DataSettings()
    specs = load_specs(settings)
    wanted = {t: f for t, f in topic_formats(specs, data).items() if f != "json"}
    if not data.schema_registry_url:
        if wanted:
            raise FormatSetupError(
                f"{', '.join(sorted(wanted))}: written as {', '.join(sorted(set(wanted.values())))}"
                " need a schema registry: set SEGUE_SCHEMA_REGISTRY_URL"
            )
        return Formats()
    client = client or make_client(data)
    formats = Formats(decoder=Decoder(SchemaCache(client)))
    by_name = {spec.name: spec for spec in specs}
    for topic, fmt in sorted(wanted.items()):
        schema_type, schema = _schema_of(by_name[topic], fmt)
        subject = subject_name(data.subject_name_strategy, topic, record_name(schema_type, schema))
        if register:
            done = ensure_registered(
                client, subject, schema_type, schema, data.schema_compatibility
            )
        else:
            done = _looked_up(client, subject, schema_type, schema)
        formats.registered.append(done)
        formats.decoder.cache.preload(done.schema_id, schema_type, schema)  # type: ignore[union-attr]
        shape = AvroShape(schema) if schema_type == AVRO else None
        formats.writers[topic] = writer_for(fmt, done.schema_id, shape)
    return formats


def configured_decoder(data: DataSettings | None = None) -> Decoder:
    """A decoder with the configured registry, if any: what the readers of topics use (tail,
    replay --topic, report, dashboard), so a topic in Avro reads as its JSON form."""
    data = data or DataSettings()
    return Decoder(SchemaCache(make_client(data))) if data.schema_registry_url else Decoder()


def _looked_up(client: Any, subject: str, schema_type: str, schema: dict[str, Any]) -> Registered:
    try:
        found = client.lookup_schema(subject, Schema(orjson.dumps(schema).decode(), schema_type))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            raise FormatSetupError(
                f"{subject}: this schema is not registered (topics are provisioned elsewhere: "
                "register it there, or run `segue topics apply`)"
            ) from None
        raise RegistryUnavailable(f"schema registry refused {subject}: {exc}") from None
    except Exception as exc:
        raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None
    return Registered(subject, int(found.schema_id or 0), False)
