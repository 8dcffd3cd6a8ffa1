"""Everything Segue holds about one customer, gathered from the broker (GDPR art. 15 / 20).

Where a customer's data lives, all keyed by the customer id (docs/privacy.md): the profiles
table (profile with its consent trail, journey state with active entries, history and recent
sends, linked identifiers, merged anonymous ids), the identity table (one row per identifier
the customer owns), and the outputs: outcome records, actions per channel, decisions. Each
keyed topic is read only in the partition the key lands on.
"""

from __future__ import annotations

from typing import Any

import orjson
from confluent_kafka import KafkaException

from app.core.timeutil import format_ms
from app.kafka_io import make_consumer, partitions_of, read_partitions
from app.partitioner import partition_for
from app.settings import Settings
from app.topics.specs import TopicNames

#: profile fields holding epoch ms (shown as RFC 3339)
_TIMES = ("first_seen", "last_seen")


def records_of(settings: Settings, topic: str, key: str) -> list[dict[str, Any]]:
    """Every JSON record under ``key`` in ``topic`` (only the key's partition is read)."""
    consumer = make_consumer(settings)
    try:
        count = len(partitions_of(consumer, topic))
    except KafkaException:
        return []  # a topic this deployment never created holds nothing of anyone
    finally:
        consumer.close()
    wanted = key.encode()
    found = []
    for msg in read_partitions(settings, topic, [partition_for(wanted, count)]):
        value = msg.value()
        if msg.key() == wanted and value:
            try:
                found.append(orjson.loads(value))
            except orjson.JSONDecodeError:
                found.append({"undecodable_record_hex": value.hex()})
    return found


def readable_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with its times as RFC 3339 text."""
    shown = dict(profile)
    for field in _TIMES:
        if isinstance(shown.get(field), int):
            shown[field] = format_ms(shown[field])
    if isinstance(shown.get("last_event_at"), dict):
        shown["last_event_at"] = {k: format_ms(v) for k, v in shown["last_event_at"].items()}
    for field in ("consent_trail", "unsubscribed"):
        if isinstance(shown.get(field), list):
            shown[field] = [{**c, "at": format_ms(c["at"])} for c in shown[field]]
    return shown


def export_customer(
    settings: Settings, key: str, record: dict[str, Any], requested_as: str
) -> dict[str, Any]:
    """The export document of customer ``key`` whose profiles-table record is ``record``."""
    names = TopicNames(settings)
    profile = readable_profile(record["profile"])
    identities = sorted(record.get("ids") or [])
    return {
        "customer_id": key,
        "requested_as": requested_as,
        "profile": profile,
        "consent_trail": profile.get("consent_trail") or [],
        "linked_identities": identities,
        "merged_anonymous_ids": list(record.get("merged") or []),
        "journey_state": record.get("journeys"),
        "outcomes": records_of(settings, names.outcomes, key),
        "decisions": records_of(settings, names.decisions, key),
        "actions": {
            channel: found
            for channel, topic in sorted(names.actions.items())
            if (found := records_of(settings, topic, key))
        },
    }
