"""The report's records as they arrive: one consumer, by assignment (no group, nothing
committed), on the outcomes, receipts and events topics from their first offsets, each record
handed to the report's builder under the dashboard's lock.

A topic that does not exist yet (no worker has started) is looked for again every few seconds;
the page says which are awaited.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from app.formats.codecs import FormatProblem
from app.kafka_io import make_consumer
from app.report.tables import Builder
from app.report.topics import USELESS, sources
from app.settings import Settings
from app.topics.specs import TopicNames

log = logging.getLogger("segue.dashboard")

#: how long a poll waits, and how often missing topics are looked for
POLL_S = 0.5
RETRY_TOPICS_S = 3.0


class Follower(threading.Thread):
    def __init__(
        self, settings: Settings, builder: Builder, lock: threading.Lock, events: bool = True
    ) -> None:
        super().__init__(name="segue-dashboard-follower", daemon=True)
        self.settings = settings
        self.builder = builder
        self.lock = lock
        names = TopicNames(settings)
        self.kinds = ["outcomes", "receipts"] + (["events"] if events else [])
        self.topics = {getattr(names, kind): kind for kind in self.kinds}
        self.read: dict[str, int] = dict.fromkeys(self.kinds, 0)
        self.unusable = 0
        self.waiting: list[str] = sorted(self.topics)
        self.error: str | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def status(self) -> dict[str, Any]:
        return {
            "records": dict(self.read),
            "unusable": self.unusable,
            "waiting_for_topics": list(self.waiting),
            "error": self.error,
        }

    def run(self) -> None:
        consumer = make_consumer(self.settings)
        from app.formats.deployment import configured_decoder  # (the registry client: only here)

        decoder = configured_decoder()  # a topic in Avro reads as its JSON form
        takers = {
            kind: (required, take) for kind, (_, required, take) in sources(self.builder).items()
        }
        assigned: set[str] = set()
        next_look = 0.0
        try:
            while not self._halt.is_set():
                if self.waiting and time.monotonic() >= next_look:
                    assigned |= self._assign(consumer, assigned)
                    next_look = time.monotonic() + RETRY_TOPICS_S
                if not assigned:
                    self._halt.wait(POLL_S)
                    continue
                messages = consumer.consume(1000, POLL_S)
                with self.lock:
                    for msg in messages:
                        if msg.error():
                            continue
                        kind = self.topics.get(msg.topic() or "")
                        raw = msg.value()
                        if kind is None or raw is None:
                            continue
                        self.read[kind] += 1
                        required, take = takers[kind]
                        try:
                            record = decoder.loads(raw)
                            if not isinstance(record, dict) or any(
                                k not in record for k in required
                            ):
                                raise KeyError(required)
                            take(record)
                        except (FormatProblem, *USELESS):
                            self.unusable += 1
        except KafkaException as exc:
            self.error = str(exc)
            log.error("dashboard: reading the topics failed: %s", exc)
        finally:
            consumer.close()

    def _assign(self, consumer: Any, assigned: set[str]) -> set[str]:
        """Assign the partitions of every topic that now exists; returns those topics."""
        try:
            meta = consumer.list_topics(timeout=5).topics
        except KafkaException as exc:
            self.error = f"no broker at {self.settings.bootstrap_servers}? ({exc})"
            return set()
        self.error = None
        found = {
            t for t in self.waiting if t in meta and meta[t].error is None and meta[t].partitions
        }
        if found:
            parts = [
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in sorted(found)
                for p in meta[t].partitions
            ]
            consumer.incremental_assign(parts)
            self.waiting = [t for t in self.waiting if t not in found]
        return found
