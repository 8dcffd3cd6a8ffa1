"""Load the declarative topic specs from ``topics/topics.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.core.timeutil import parse_duration
from app.paths import TOPICS_DIR
from app.settings import Settings

CHANNELS = ("email", "sms", "push", "webhook", "in_app", "agent")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    cleanup_policy: str
    retention_ms: int | None
    description: str
    key: str
    value_schema: str | None
    max_message_bytes: int | None = None
    #: how its records are written: json, avro or json_schema (app/formats/codecs.py)
    format: str = "json"
    #: the Avro schema (relative to topics/) of a topic that may be written in Avro
    avro_schema: str | None = None
    #: the name as declared (no prefix, {app_id} filled in): what SEGUE_TOPIC_FORMATS names
    declared_name: str = ""

    def configs(self) -> dict[str, str]:
        conf = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        if self.max_message_bytes is not None:
            conf["max.message.bytes"] = str(self.max_message_bytes)
        return conf


def load_specs(settings: Settings, path: Path | None = None) -> list[TopicSpec]:
    doc: dict[str, Any] = yaml.safe_load((path or TOPICS_DIR / "topics.yaml").read_text())
    specs = []
    for raw in doc["topics"]:
        partitions = raw["partitions"]
        retention = raw.get("retention")
        declared = raw["name"].format(app_id=settings.app_id)
        specs.append(
            TopicSpec(
                name=settings.topic(declared),
                partitions=settings.partitions if partitions == "customer" else int(partitions),
                cleanup_policy=raw.get("cleanup_policy", "delete"),
                retention_ms=parse_duration(retention) if retention else None,
                description=raw.get("description", ""),
                key=raw.get("key", ""),
                value_schema=raw.get("value_schema"),
                max_message_bytes=raw.get("max_message_bytes"),
                format=raw.get("format", "json"),
                avro_schema=raw.get("avro_schema"),
                declared_name=declared,
            )
        )
    return specs


class TopicNames:
    """The names the pipeline uses, with the deployment's prefix and app id applied."""

    def __init__(self, settings: Settings) -> None:
        t = settings.topic
        self.events = t("events")
        self.receipts = t("events.receipts")
        self.dlq = t("segue.dlq")
        self.customer_events = t("segue.customer-events")
        self.decisions = t("segue.decisions")
        self.outcomes = t("segue.outcomes")
        self.audit = t("segue.audit")
        # the runtime's store changelogs: {app_id}-{agent}-{store}-changelog
        # (app/runtime/changelog.py); keys are UTF-8 strings, values orjson
        self.profiles_changelog = t(f"{settings.app_id}-journeys-profiles-changelog")
        self.timers_changelog = t(f"{settings.app_id}-journeys-due-changelog")
        self.identity = t("segue.identity")
        self.identity_review = t("segue.identity-review")
        self.identity_changelog = t(f"{settings.app_id}-identity-identity-changelog")
        self.actions = {ch: t(f"actions.{ch}") for ch in CHANNELS}

    @property
    def inputs(self) -> list[str]:
        return [self.events, self.receipts]
