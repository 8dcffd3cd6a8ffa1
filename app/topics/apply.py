"""Create the declared topics that are missing and report every mismatch; never delete.

Works against any broker: the embedded one or an existing estate (the connection, including
SASL/SSL, comes from the settings). A partition count is never changed silently: a mismatch is
reported and left for the operator, because changing it would re-route keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from app.settings import Settings
from app.topics.specs import TopicSpec, load_specs


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def apply_topics(settings: Settings, timeout_s: float = 15.0) -> ApplyReport:
    admin = AdminClient(settings.admin_config())
    specs = load_specs(settings)
    report = ApplyReport()
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [s for s in specs if s.name not in existing]
    raced: set[str] = set()
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, s.partitions, settings.replication_factor, config=s.configs())
                for s in missing
            ],
            request_timeout=timeout_s,
        )
        for name, fut in futures.items():
            try:
                fut.result()
                report.created.append(name)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() == err.TOPIC_ALREADY_EXISTS:
                    # Raced with another client, or the broker's metadata lagged its controller
                    # (KRaft answers CreateTopics before every broker has the topic): compare it.
                    raced.add(name)
                else:
                    report.mismatches.append(f"{name}: could not create: {err.str()}")
    if raced:
        existing = {**existing, **_metadata_of(admin, raced, timeout_s)}
        for name in sorted(raced - set(existing)):
            report.mismatches.append(f"{name}: exists, but the broker did not describe it")
    for spec in specs:
        if spec.name not in existing or spec.name in report.created:
            continue
        report.present.append(spec.name)
        actual = len(existing[spec.name].partitions)
        if actual != spec.partitions:
            report.mismatches.append(
                f"{spec.name}: has {actual} partitions, declared {spec.partitions} "
                "(left unchanged: changing it would re-route keys)"
            )
        _compare_configs(admin, spec, report, timeout_s)
    return report


def _metadata_of(admin: AdminClient, names: set[str], timeout_s: float) -> dict[str, Any]:
    """Each named topic's metadata, asked for one by one until the broker knows it."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    for name in sorted(names):
        while True:
            meta = admin.list_topics(name, timeout=timeout_s).topics.get(name)
            if meta is not None and meta.error is None and meta.partitions:
                found[name] = meta
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    return found


def _compare_configs(
    admin: AdminClient, spec: TopicSpec, report: ApplyReport, timeout_s: float
) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    try:
        described = admin.describe_configs([resource], request_timeout=timeout_s)[resource].result()
    except KafkaException as exc:
        report.notes.append(f"{spec.name}: configs not comparable ({exc.args[0].str()})")
        return
    for key, wanted in spec.configs().items():
        entry = described.get(key)
        if entry is not None and entry.value is not None and entry.value != wanted:
            report.mismatches.append(f"{spec.name}: {key} is {entry.value}, declared {wanted}")
