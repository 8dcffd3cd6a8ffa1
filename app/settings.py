"""Typed settings, read from the environment (prefix ``SEGUE_``) or a ``.env`` file.

Broker connection fields map one to one onto librdkafka keys (see ``kafka_config``), so a deployment beside an existing Kafka estate passes its own
security settings through unchanged. ``KAFKA_BOOTSTRAP_SERVERS`` is honoured as well, because
that is what most Kafka tooling (and our integration tests) set.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.duplicates import DEFAULT_MAX_IDS, DuplicateRule
from app.core.event_time import EventTimeWindow
from app.core.identity import DEFAULT_PRIORITY, IdentityConfig
from app.core.timeutil import parse_duration

EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_PORT = 19092
EMBEDDED_BOOTSTRAP = f"{EMBEDDED_HOST}:{EMBEDDED_PORT}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGUE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,  # Settings(bootstrap_servers=...) must work despite the alias
    )

    bootstrap_servers: str = Field(
        default=EMBEDDED_BOOTSTRAP,
        validation_alias=AliasChoices("SEGUE_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; the default is the embedded broker.",
    )
    broker_profile: Literal["auto", "tansu", "kafka"] = Field(
        default="auto",
        description=(
            "Which compatibility profile to apply. 'auto' recognises the broker by what it is "
            "(a broker Segue started at the address, else the cluster id the broker reports; "
            "app/broker/detect.py): 'tansu' for Tansu (or SEGUE_EMBEDDED=1), else 'kafka' "
            "(no workarounds)."
        ),
    )
    broker_kind: Literal["auto", "kafka", "tansu"] = Field(
        default="auto",
        description=(
            "Which embedded broker Segue starts (broker start, demo): 'kafka' (Apache Kafka, "
            "needs Java), 'tansu' (light, memory only); 'auto' is kafka where Java is found."
        ),
    )
    embedded: bool = Field(
        default=False, description="Force the embedded-broker (Tansu) profile on another address."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    app_id: str = Field(
        default="segue", description="Consumer group and table/changelog name prefix."
    )
    topic_prefix: str = Field(
        default="", description="Prepended to every topic name (one estate, many deployments)."
    )
    partitions: int = Field(
        default=4, ge=1, description="Partitions of the customer-keyed topics (co-partitioned)."
    )
    replication_factor: int = Field(default=1, ge=1)
    state_dir: Path = Field(
        default=Path(".state"), description="Local RocksDB state and pid files."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Prometheus endpoint; unset: each component's own default (app/metrics_endpoint.py: "
            "worker 9464, sinks 9470 + channel); 0 disables. A port taken is replaced by a free "
            "one, logged."
        ),
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the metrics endpoint binds (0.0.0.0 in a container).",
    )
    log_level: str = "info"

    models_dir: str | None = Field(
        default=None,
        description=(
            "Trained model artifacts for the scores; unset: models/ beside the journeys folder "
            "when it holds a manifest (the project layout), else none; 'none': every score 0.0."
        ),
    )
    latency_budget_ms: int = Field(
        default=200, ge=1, description="Event-to-action p99 budget per partition (breaches logged)."
    )
    fetch_max_wait_ms: int = Field(
        default=10,
        ge=1,
        description="Tansu profile only: how long the broker may hold an empty fetch.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description=(
            "at_least_once: outputs may repeat after a crash (sinks dedupe by action id); "
            "exactly_once: outputs, state and offsets in one Kafka transaction (a real Kafka "
            "only; outputs become visible at each checkpoint, up to commit_interval_ms later)."
        ),
    )
    commit_interval_ms: int = Field(
        default=1000, ge=0, description="How often the worker checkpoints its work."
    )
    lag_interval_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How often the worker asks the broker for its input partitions' end and committed "
            "offsets (segue_consumer_lag_records, stall detection); 0 turns both off."
        ),
    )
    stall_after_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "An input partition with records waiting and none read for this long is stalled: "
            "logged once and counted (segue_consumer_stalls_total) until it reads again."
        ),
    )

    event_time_max_ahead: str = Field(
        default="7d",
        description=(
            "Events dated further ahead of their partition's time go to the DLQ (a duration: "
            "90s, 15m, 2h, 7d; 0s turns the check off). See app/core/event_time.py."
        ),
    )
    event_time_max_behind: str = Field(
        default="30d",
        description=(
            "Events dated further behind their partition's newest event time go to the DLQ "
            "(0s: off; raise it to publish history out of time order)."
        ),
    )

    duplicate_window: str = Field(
        default="24h",
        description=(
            "How long (event time) a customer's event ids are remembered: a second event with "
            "the same event_id within it is a duplicate, dropped and counted "
            "(segue_events_duplicate_total). 0s turns this off. Read by the worker and by "
            "segue replay alike. See docs/engine.md, 'Duplicate events'."
        ),
    )
    duplicate_max_ids: int = Field(
        default=DEFAULT_MAX_IDS,
        ge=1,
        description="Event ids remembered per customer at most (the oldest handled go first).",
    )

    @property
    def duplicates(self) -> DuplicateRule:
        return DuplicateRule(parse_duration(self.duplicate_window), self.duplicate_max_ids)

    @field_validator("event_time_max_ahead", "event_time_max_behind", "duplicate_window")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        parse_duration(value)  # raises TimeFormatError (a ValueError) with the reason
        return value

    @property
    def event_time_window(self) -> EventTimeWindow:
        return EventTimeWindow(
            parse_duration(self.event_time_max_ahead), parse_duration(self.event_time_max_behind)
        )

    identity_priority: str = Field(
        default=",".join(DEFAULT_PRIORITY),
        description=(
            "Identifier kinds that resolve identities, strongest first, comma-separated "
            "(anonymous_id must be listed; leave device_id out if devices are shared). "
            "See docs/identity.md."
        ),
    )

    @field_validator("identity_priority")
    @classmethod
    def _valid_priority(cls, value: str) -> str:
        IdentityConfig(priority=_kinds(value))  # raises ValueError with the reason
        return value

    @cached_property
    def identity_config(self) -> IdentityConfig:
        return IdentityConfig(priority=_kinds(self.identity_priority))

    @property
    def embedded_address(self) -> bool:
        """Whether the bootstrap address is the embedded broker's default one."""
        return self.bootstrap_servers.strip() == EMBEDDED_BOOTSTRAP

    @property
    def tansu_profile(self) -> bool:
        """Whether Tansu's workarounds apply (``app/stream/compat.py``).

        Not cached on the instance: ``model_copy(update=...)`` would carry a cached answer over
        to another address. ``detect_profile`` keeps the broker's answer per address instead.
        """
        if self.broker_profile != "auto":
            return self.broker_profile == "tansu"
        if self.embedded:
            return True
        from app.broker.detect import detect_profile

        return detect_profile(self.bootstrap_servers, self.state_dir, self.kafka_config()) == (
            "tansu"
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def kafka_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka (confluent-kafka) configuration for this broker."""
        from app.kafka_log import LOG

        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # librdkafka's own lines go through segue.kafka, one per back-off step, not one per
            # failed connection attempt of each client (app/kafka_log.py)
            "logger": LOG,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            conf["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            conf["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            conf["ssl.key.location"] = str(self.ssl_keyfile)
        conf.update(extra)
        return conf


def _kinds(value: str) -> tuple[str, ...]:
    return tuple(kind.strip() for kind in value.split(",") if kind.strip())


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
