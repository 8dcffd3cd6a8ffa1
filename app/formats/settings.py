"""The data contract's settings (prefix ``SEGUE_``): record formats, the schema registry, and how
strictly event properties are checked. Their own class beside ``app.settings.Settings`` (the
broker's), as the sinks' ``SinkSettings`` is: only the processes that read or write records
in a registered format need them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.event_properties import MODES, PropertyRules

FORMATS = ("json", "avro", "json_schema")
Compatibility = Literal[
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
    "registry",
]


class DataSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGUE_", env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    schema_registry_url: str | None = Field(
        default=None,
        description=(
            "A Confluent-compatible schema registry (Confluent, Apicurio's /apis/ccompat/v7, "
            "Karapace); needed by topics in the avro or json_schema format and to read records "
            "in the wire format."
        ),
    )
    schema_registry_basic_auth: SecretStr | None = Field(
        default=None, description="user:password for the registry's basic auth."
    )
    schema_registry_ca: Path | None = Field(default=None, description="CA file for https.")
    schema_registry_cert: Path | None = Field(default=None, description="Client certificate.")
    schema_registry_key: Path | None = Field(default=None, description="Client key.")
    subject_name_strategy: Literal["topic", "record", "topic_record"] = Field(
        default="topic",
        description=(
            "Subject of a topic's value schema: topic -> '<topic>-value' (Confluent's "
            "TopicNameStrategy), record -> the record's full name, topic_record -> "
            "'<topic>-<record full name>'."
        ),
    )
    schema_compatibility: Compatibility = Field(
        default="BACKWARD",
        description=(
            "Compatibility level set on a subject Segue creates; 'registry' leaves the "
            "registry's default. A schema change that breaks it is refused by topics apply."
        ),
    )
    topic_formats: str = Field(
        default="",
        description=(
            "Formats overriding topics.yaml's, e.g. 'events=avro,actions.*=avro' (names "
            "without the prefix; '*' at the end matches any tail)."
        ),
    )
    property_schemas: str = Field(
        default="types",
        description=(
            "Per-type property schemas (topics/schemas/properties): types (default: present "
            "fields must have their type), strict (required fields too), off."
        ),
    )
    unknown_event_types: Literal["pass", "reject"] = Field(
        default="pass",
        description="An event type without a property schema: pass, or reject to the DLQ.",
    )

    @field_validator("property_schemas")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"must be one of {', '.join(MODES)}")
        return value

    @field_validator("schema_registry_url")
    @classmethod
    def _url_with_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://", "mock://")):
            raise ValueError(f"{value!r}: give the URL with http:// or https://")
        return value

    @field_validator("topic_formats")
    @classmethod
    def _known_formats(cls, value: str) -> str:
        format_overrides(value)  # raises ValueError with the reason
        return value

    def overrides(self) -> dict[str, str]:
        return format_overrides(self.topic_formats)

    def property_rules(self) -> PropertyRules:
        return PropertyRules.load(self.property_schemas, self.unknown_event_types == "reject")

    def registry_conf(self) -> dict[str, Any]:
        """confluent-kafka's SchemaRegistryClient configuration."""
        if not self.schema_registry_url:
            raise ValueError("no schema registry: set SEGUE_SCHEMA_REGISTRY_URL")
        conf: dict[str, Any] = {
            "url": self.schema_registry_url,
            # bounded: a registry that takes a connection and never answers must not hold a
            # worker's batch for ever (the client's default is no timeout)
            "timeout": 10,
            "max.retries": 2,
        }
        if self.schema_registry_basic_auth:
            conf["basic.auth.user.info"] = self.schema_registry_basic_auth.get_secret_value()
        if self.schema_registry_ca:
            conf["ssl.ca.location"] = str(self.schema_registry_ca)
        if self.schema_registry_cert:
            conf["ssl.certificate.location"] = str(self.schema_registry_cert)
        if self.schema_registry_key:
            conf["ssl.key.location"] = str(self.schema_registry_key)
        return conf


def format_overrides(text: str) -> dict[str, str]:
    """``'events=avro,actions.*=avro'`` -> {"events": "avro", "actions.*": "avro"}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, fmt = part.partition("=")
        name, fmt = name.strip(), fmt.strip()
        if not sep or not name:
            raise ValueError(f"{part.strip()!r}: write TOPIC=FORMAT (e.g. events=avro)")
        if fmt not in FORMATS:
            raise ValueError(f"{name}: format {fmt!r} is not one of {', '.join(FORMATS)}")
        out[name] = fmt
    return out
