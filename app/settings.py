"""Typed settings, read from the environment (prefix ``SEGUE_``) or a ``.env`` file.

Broker connection fields map one to one onto librdkafka keys (see ``kafka_config`` and
``LIBRDKAFKA_KEYS``), so a deployment beside an existing Kafka estate passes its own
security settings through unchanged; any other librdkafka property goes through
``SEGUE_KAFKA_EXTRA`` (a JSON object). ``KAFKA_BOOTSTRAP_SERVERS`` is honoured as well, because
that is what most Kafka tooling (and our integration tests) set.

Every client is named (``client.id``, what broker quotas and logs key on) after the component
that makes it: ``<topic prefix><client id>-<component>``, e.g. ``segue-worker-0``,
``segue-sink-email``, ``segue-cli-tail`` (``Settings.for_component``); admin clients add
``-admin``. docs/broker.md, "Fitting an existing estate".
"""

from __future__ import annotations

import uuid
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.duplicates import DEFAULT_MAX_IDS, DuplicateRule
from app.core.event_time import EventTimeWindow
from app.core.identity import DEFAULT_PRIORITY, IdentityConfig
from app.core.timeutil import parse_duration

EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_PORT = 19092
EMBEDDED_BOOTSTRAP = f"{EMBEDDED_HOST}:{EMBEDDED_PORT}"

#: each connection setting and the librdkafka property it sets, unchanged (secrets unwrapped)
LIBRDKAFKA_KEYS: dict[str, str] = {
    "bootstrap_servers": "bootstrap.servers",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "sasl_oauthbearer_method": "sasl.oauthbearer.method",
    "sasl_oauthbearer_client_id": "sasl.oauthbearer.client.id",
    "sasl_oauthbearer_client_secret": "sasl.oauthbearer.client.secret",
    "sasl_oauthbearer_token_endpoint_url": "sasl.oauthbearer.token.endpoint.url",
    "sasl_oauthbearer_scope": "sasl.oauthbearer.scope",
    "sasl_oauthbearer_extensions": "sasl.oauthbearer.extensions",
    "sasl_kerberos_service_name": "sasl.kerberos.service.name",
    "sasl_kerberos_principal": "sasl.kerberos.principal",
    "sasl_kerberos_keytab": "sasl.kerberos.keytab",
    "ssl_cafile": "ssl.ca.location",
    "ssl_ca_location": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_key_password": "ssl.key.password",
    "ssl_endpoint_identification_algorithm": "ssl.endpoint.identification.algorithm",
}

#: properties SEGUE_KAFKA_EXTRA may not set: Segue derives them per client (the ids live under
#: the topic prefix, for prefix ACLs and quotas) or its guarantees rest on them
_OWN_KEYS = {
    "client.id": "SEGUE_CLIENT_ID",
    "group.id": "SEGUE_TOPIC_PREFIX and SEGUE_APP_ID",
    "group.instance.id": "SEGUE_TOPIC_PREFIX and SEGUE_APP_ID",
    "transactional.id": "SEGUE_TOPIC_PREFIX and SEGUE_APP_ID",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGUE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,  # Settings(bootstrap_servers=...) must work despite the alias
        hide_input_in_errors=True,  # a refused SEGUE_KAFKA_EXTRA may hold a password
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
    # -- the connection: each field sets one librdkafka property (LIBRDKAFKA_KEYS) ------------
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: (
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None
    ) = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_oauthbearer_method: Literal["default", "oidc"] | None = Field(
        default=None,
        description="OAUTHBEARER: 'oidc' fetches tokens from the token endpoint (client credentials).",
    )
    sasl_oauthbearer_client_id: str | None = None
    sasl_oauthbearer_client_secret: SecretStr | None = None
    sasl_oauthbearer_token_endpoint_url: str | None = None
    sasl_oauthbearer_scope: str | None = None
    sasl_oauthbearer_extensions: str | None = Field(
        default=None, description="OAUTHBEARER SASL extensions, 'key=value,key2=value2'."
    )
    sasl_kerberos_service_name: str | None = Field(
        default=None,
        description="GSSAPI: the brokers' Kerberos principal name (librdkafka: kafka).",
    )
    sasl_kerberos_principal: str | None = None
    sasl_kerberos_keytab: Path | None = None
    ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s): a PEM file or a folder of them."
    )
    ssl_ca_location: str | None = Field(
        default=None,
        description=(
            "librdkafka's ssl.ca.location under its own name: a file, a folder of CA "
            "certificates, or 'probe' (the system's stores); set this or ssl_cafile, not both."
        ),
    )
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification_algorithm: Literal["https", "none"] | None = Field(
        default=None,
        description="'https' checks the broker's host name against its certificate; 'none' not.",
    )
    kafka_extra: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            "Any other librdkafka property, for every client: a JSON object, "
            'SEGUE_KAFKA_EXTRA=\'{"ssl.crl.location": "/etc/ssl/crl.pem"}\'. Values are '
            "kept as secrets (never shown); Segue's own per-client settings take precedence."
        ),
    )
    client_id: str = Field(
        default="segue",
        description=(
            "Base of every client's client.id: <topic prefix><client id>-<component> "
            "(segue-worker-0, segue-sink-email, segue-cli-tail; admin clients add -admin)."
        ),
    )
    create_topics: bool = Field(
        default=True,
        description=(
            "Whether the worker and the sinks create missing topics at start; false: they only "
            "check them (present, partitions, compaction) and refuse to start on a mismatch."
        ),
    )
    _component: str | None = PrivateAttr(default=None)

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

    @field_validator("kafka_extra", mode="before")
    @classmethod
    def _extra_as_strings(cls, value: Any) -> Any:
        """JSON numbers and booleans as librdkafka's strings (``5``: "5", ``true``: "true")."""
        if not isinstance(value, dict):
            return value
        return {key: _librdkafka_text(v) for key, v in value.items()}

    @field_validator("kafka_extra")
    @classmethod
    def _extra_not_segues_own(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        typed = {key: name for name, key in LIBRDKAFKA_KEYS.items()}
        for key in value:
            if key in _OWN_KEYS:
                raise ValueError(f"{key} is Segue's to set (it follows {_OWN_KEYS[key]})")
            if key in typed:
                raise ValueError(f"{key} has a setting of its own: SEGUE_{typed[key].upper()}")
        return value

    @model_validator(mode="after")
    def _connection_consistent(self) -> Settings:
        if self.ssl_cafile is not None and self.ssl_ca_location is not None:
            raise ValueError(
                "set ssl_cafile or ssl_ca_location, not both (both are ssl.ca.location)"
            )
        if self.sasl_oauthbearer_method == "oidc":
            missing = [
                f"SEGUE_{name.upper()}"
                for name in (
                    "sasl_oauthbearer_client_id",
                    "sasl_oauthbearer_client_secret",
                    "sasl_oauthbearer_token_endpoint_url",
                )
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"sasl_oauthbearer_method=oidc needs {', '.join(missing)}")
        return self

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

        return detect_profile(self.bootstrap_servers, self.state_dir, self.admin_config()) == (
            "tansu"
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def for_component(self, component: str) -> Settings:
        """These settings for the clients of one component: their ``client.id`` names it
        (``worker-0``, ``sink-email``, ``callbacks``, ``cli-tail``)."""
        copy = self.model_copy()
        copy._component = component
        return copy

    @property
    def component(self) -> str | None:
        return self._component

    @property
    def kafka_client_id(self) -> str:
        """``<topic prefix><client id>-<component>``: under the prefix, like the topics, the
        groups and the transactional ids (prefix ACLs); one per component (quotas)."""
        name = f"{self.topic_prefix}{self.client_id}"
        return f"{name}-{self._component}" if self._component else name

    def cli_group_id(self) -> str:
        """The group id of a command's own consumer (it reads by assignment and commits
        nothing: a fresh id each time), under the topic prefix like every id."""
        return f"{self.topic_prefix}segue-cli-{uuid.uuid4().hex[:8]}"

    def kafka_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka (confluent-kafka) configuration for this broker."""
        from app.kafka_log import LOG

        conf: dict[str, Any] = {
            # librdkafka's own lines go through segue.kafka, one per back-off step, not one per
            # failed connection attempt of each client (app/kafka_log.py)
            "logger": LOG,
            "client.id": self.kafka_client_id,
        }
        for name, key in LIBRDKAFKA_KEYS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            conf[key] = str(value)
        conf.update({key: value.get_secret_value() for key, value in self.kafka_extra.items()})
        conf.update(extra)
        return conf

    def admin_config(self, **extra: Any) -> dict[str, Any]:
        """``kafka_config`` for an admin client: its client.id is its component's + ``-admin``."""
        return self.kafka_config(**{"client.id": f"{self.kafka_client_id}-admin", **extra})


def _librdkafka_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _kinds(value: str) -> tuple[str, ...]:
    return tuple(kind.strip() for kind in value.split(",") if kind.strip())


#: the component this process's clients are named after when the code that loads the settings
#: names none: a ``segue`` command's (``cli-tail``), set by app/cli before the command runs
_process_component: str | None = None


def name_clients(component: str | None) -> None:
    """Name the clients of this process's ``load_settings()`` after ``component``."""
    global _process_component
    _process_component = component


def load_settings(**overrides: Any) -> Settings:
    """The settings; inside a ``segue`` command, for its clients (``client.id``
    ``segue-cli-<command>``: ``segue-cli-tail``, ``segue-cli-profile``)."""
    settings = Settings(**overrides)
    return settings.for_component(_process_component) if _process_component else settings
