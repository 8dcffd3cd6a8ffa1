"""The report's records read from a deployment's topics (`segue report --topic`, the demo's
report): each topic up to its end offsets at the start, every usable record to the builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.timeutil import TimeFormatError
from app.formats.codecs import FormatProblem
from app.kafka_io import read_partitions
from app.report.tables import Builder
from app.settings import Settings
from app.topics.specs import TopicNames

#: what a record that is valid JSON but not what the report needs raises when used
USELESS = (TimeFormatError, TypeError, ValueError, KeyError)
OUTCOME_FIELDS = ("outcome_id", "kind", "customer_id", "journey", "entry", "event_time")
RECEIPT_FIELDS = ("type", "properties")
EVENT_FIELDS = ("type", "timestamp")


def sources(builder: Builder) -> dict[str, tuple[str, tuple[str, ...], Callable[[Any], None]]]:
    """Topic (TopicNames attribute) -> (what its records are, required fields, the builder's
    method that takes one)."""
    return {
        "outcomes": ("an outcome record", OUTCOME_FIELDS, builder.add),
        "receipts": ("a receipt event", RECEIPT_FIELDS, builder.add_receipt),
        "events": ("an event", EVENT_FIELDS, builder.add_event),
    }


def feed_topic(settings: Settings, topic_of: str, builder: Builder) -> int:
    """Every record of the deployment's topic ``topic_of`` to the builder; returns how many it
    could not use (not JSON, not such a record, or unusable)."""
    _, required, take = sources(builder)[topic_of]
    topic = getattr(TopicNames(settings), topic_of)
    unusable = 0
    from app.formats.deployment import configured_decoder  # (the registry client: only here)

    decoder = configured_decoder()  # a topic in Avro reads as its JSON form
    for msg in read_partitions(settings, topic):
        raw = msg.value()
        if msg.error() or raw is None:
            continue
        try:
            record = decoder.loads(raw)
            if not isinstance(record, dict) or not all(k in record for k in required):
                raise KeyError(required)
            take(record)
        except (FormatProblem, *USELESS):
            unusable += 1
    return unusable
