"""The ``ingest`` agent: input records validated, keyed by customer, or dead-lettered.

Stateless: a record forwarded again after a crash (its offset not yet committed) is dropped
downstream, by the journey agent's ``applied_before`` (the ``source`` offsets it stamps here)
and by the identity agent's ``from`` positions (app/stream/identity_agent.py).

Never stopped by a record: what the envelope refuses (app/core/envelope.py), what falls outside
the event-time window (app/core/event_time.py) and whatever else goes wrong with one record (a
bug of ours included: the reason says so, ``segue_internal_errors_total`` counts it and the log
names it once per kind) goes to the DLQ, and ingest goes on with the next record.
"""

from __future__ import annotations

from typing import Any

from app.core.dlq import dlq_value_and_headers
from app.core.envelope import MAX_EVENT_BYTES, InvalidEvent, decode_event, validate_event
from app.core.event_time import EventTimeWindow
from app.core.trace import STATE_HEADER, header_text, trace_of
from app.formats.codecs import Decoder, FormatProblem
from app.formats.errors import RegistryUnavailable
from app.runtime.agent import Agent, PartitionBatch
from app.stream import metrics
from app.stream.failures import internal_error
from app.stream.identity_agent import IngestRouter
from app.stream.sink import Batch, Outlet
from app.topics.specs import TopicNames

AGENT = "ingest"


class Tally:
    """Ingest's per-event counts, added to their Prometheus counters once per loop turn
    (``flush``): a prometheus-client ``inc`` takes a lock, too much twice per event."""

    __slots__ = ("accepted", "seen")

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.accepted = 0

    def flush(self) -> None:
        for topic, n in self.seen.items():
            metrics.child(metrics.EVENTS_IN, topic).inc(n)
        if self.accepted:
            metrics.EVENTS_ACCEPTED.inc(self.accepted)
        self.seen.clear()
        self.accepted = 0


#: the process's ingest counts; the worker flushes them once per loop turn
TALLY = Tally()
#: the newest event time handled per input partition (the event-time window's reference)
NEWEST: dict[tuple[str, int], int] = {}
#: reads records in the Confluent wire format (Avro, JSON Schema); the worker gives it the
#: deployment's registry at start (app/worker/run.py), without one a framed record is refused
DECODER = Decoder()


def dead_letter(
    names: TopicNames, sink: Outlet, out: Batch, message: Any, reason: str, path: str | None = None
) -> None:
    """The record to the DLQ as it was (key, value, headers), the reason in headers
    (app/core/dlq.py)."""
    ts_type, ts = message.timestamp()
    value, headers = dlq_value_and_headers(
        reason,
        message.value(),
        message.topic(),
        message.partition(),
        message.offset(),
        ts if ts_type else None,
        message.headers(),
        path,
    )
    sink.produce(out, names.dlq, message.key(), value, headers=headers)


def _decoded(raw: Any) -> dict[str, Any]:
    """The valid event of an input value: JSON text, or the wire format (by its first byte)."""
    if raw and raw[0] == 0:
        if len(raw) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"oversize payload: {len(raw)} bytes > {MAX_EVENT_BYTES}")
        try:
            return validate_event(DECODER.wire_object(raw))
        except FormatProblem as exc:
            raise InvalidEvent(exc.reason) from None
    return decode_event(raw)


def forward(
    names: TopicNames,
    sink: Outlet,
    out: Batch,
    router: IngestRouter,
    message: Any,
    here: int | None = None,
    window: EventTimeWindow | None = None,
) -> dict[str, Any] | None:
    """One consumed input record (a confluent-kafka Message) to where identity says. With
    ``here`` (the caller owns that customer partition), an event of a customer of partition
    ``here`` is not forwarded: it is returned, for the caller to handle at once."""
    topic = message.topic()
    seen = TALLY.seen
    seen[topic] = seen.get(topic, 0) + 1
    try:
        valid = _decoded(message.value())
        if not message.key():
            raise InvalidEvent("missing key: records must be keyed by customer id")
        partition = message.partition()
        record_ms = message.timestamp()[1]
        if window is not None:
            where = (topic, partition)
            newest = NEWEST.get(where, 0)
            ts = valid["ts"]
            problem = window.problem(ts, newest, record_ms)
            if problem is not None:
                raise InvalidEvent(problem)
            if ts > newest:
                NEWEST[where] = ts
        # Where it came from: lets the journey agent drop a record forwarded twice (a crash
        # before the commit) and measure latency from the input's broker timestamp.
        source = valid["source"] = {
            "topic": topic,
            "partition": partition,
            "offset": message.offset(),
            "timestamp": record_ms,
        }
        headers = message.headers()
        if headers:  # the producer's trace, for the actions and receipts this event causes
            trace = trace_of(headers)
            if trace is not None:
                source["traceparent"] = trace
                state = header_text(headers, STATE_HEADER)
                if state:
                    source["tracestate"] = state
        routed = router.send(out, valid, here)
    except InvalidEvent as exc:
        metrics.EVENTS_REJECTED.labels(metrics.reason_kind(exc.reason)).inc()
        dead_letter(names, sink, out, message, exc.reason, exc.path)
        return None
    except RegistryUnavailable:
        raise  # the record is fine, the registry is not: stop, commit nothing, read it again

    except Exception as exc:
        dead_letter(names, sink, out, message, internal_error(AGENT, exc))
        return None
    TALLY.accepted += 1
    return valid if routed else None


def ingest_agent(
    names: TopicNames,
    sink: Outlet,
    router: IngestRouter,
    topics: tuple[str, ...],
    window: EventTimeWindow | None = None,
) -> Agent:
    """For input topics not co-partitioned with customer-events (another partition count):
    every event goes through customer-events. Co-partitioned inputs are the journeys agent's
    (app/worker/journeys.py), which handles an event on its customer's partition at once."""

    def handle(batch: PartitionBatch) -> None:
        out = sink.batch()
        for message in batch.records:
            forward(names, sink, out, router, message, window=window)

    return Agent(AGENT, topics, handle)
