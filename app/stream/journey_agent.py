"""The journey agent's work on one batch of customer-keyed records (events and timer ticks).

One table value per customer holds everything the engine needs, so each customer touched by a
batch is read once and written once (the changelog write is the throughput wall):

    {"sources": {"topic/partition": last applied input offset},   # the redelivery guard
     "profile": {...},                                             # app/core/profile.py
     "journeys": {...}}                                            # app/core/journeys/state.py

Order of work for a batch (at-least-once, see docs/live.md):
1. ``apply``: every record runs through the engine (``handle_event`` for an event at its own
   time, ``advance`` to the tick's time for a due timer), against a batch-local copy of the
   values; the actions (to ``actions.<channel>``) and decisions are produced;
2. ``finish``: the values and timers go to the store's write-back cache;
3. the runtime's checkpoint (app/runtime/checkpoint.py) awaits every output, then makes the
   state and the input offsets durable. A crash before it replays the batch on the old state
   (the same action ids again); ``applied_before`` skips an event whose state was written
   (its actions were delivered before). That guard is for records read again; a producer's
   retry (a new record, the same ``event_id``) is dropped by the engine itself
   (app/core/duplicates.py) and counted in ``segue_events_duplicate_total``.

Identity (docs/identity.md) adds three control records, told apart by ``op``:
``linked`` (an identifier now belongs to this customer: kept in ``ids`` for inspection),
``merge-out`` (at the anonymous key: its due timers fire, its profile and journey state go to
the customer as a ``merge-in``, and the record becomes a tombstone ``{"sources",
"merged_into"}``; an event that still reaches a tombstone is forwarded to the customer) and
``merge-in`` (at the customer: ``fold_in``, guarded by the record's ``merged`` list).

This module knows no Kafka: state is reached through the :class:`Store` protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from prometheus_client import Counter, Gauge

from app.core.erasure import before_erasure, is_erasure
from app.core.identity_merge import fold_in, retire
from app.core.journeys import Engine, Outcome
from app.core.journeys.state import next_due
from app.core.profile import new_profile
from app.core.timeutil import format_ms, parse_rfc3339
from app.core.trace import HEADER as TRACEPARENT
from app.core.trace import STATE_HEADER as TRACESTATE
from app.formats.codecs import JSON_WRITER, Writer
from app.partitioner import partition_for
from app.stream import metrics
from app.stream.arm_books import StoredBooks
from app.stream.failures import dead_letter_value, internal_error
from app.stream.latency import LatencyTracker
from app.stream.metrics import child
from app.stream.sink import Batch, Outlet
from app.topics.specs import TopicNames

AGENT = "journeys"

ACTIONS = Counter("segue_actions_total", "Actions emitted", ["channel", "journey"])
DECISIONS = Counter("segue_decisions_total", "Suppressed and held-out sends", ["reason"])
OUTCOMES = Counter(
    "segue_outcomes_total",
    "Outcome records: entries entered, steps, sends, ends",
    ["journey", "kind"],
)
TICKS = Counter("segue_ticks_handled_total", "Timer ticks handled by the journey agent")
EXPRESSION_FAILURES = Gauge(
    "segue_expression_failures", "Failed expression evaluations since start", ["journey"]
)
TIMER_LAG = Gauge(
    "segue_timer_lag_seconds", "Last timer action: delivered minus its due time", ["partition"]
)


#: store key under which a partition's newest event time is kept (NUL: never a customer)
CLOCK_PREFIX = "\x00clock/"
#: a partition's newest event time is made durable when it moved by at least this much
CLOCK_STEP_MS = 1_000
#: identifiers listed per customer record (``ids``; for ``segue profile get``)
MAX_IDS = 32
#: merged anonymous keys remembered per customer (the merge-in redelivery guard)
MAX_MERGED = 64
#: the op that erases a merged-away key's record (sent by the customer's erasure)
ERASE = "erase"
#: positions of an erasure's identity records: offset * this + n (more than MAX_IDS + MAX_MERGED)
ERASE_FANOUT = 128


def clock_key(partition: int) -> str:
    return f"{CLOCK_PREFIX}{partition}"


@dataclass(slots=True)
class Item:
    """One record of the batch: its value and where it came from."""

    value: dict[str, Any]
    partition: int
    offset: int
    handle: Any = None  # the partition's stores (app/worker/journeys.py); opaque here


class Clocks(Protocol):
    """Each partition's newest event time, and where the processor reports a key's next due
    time (the runtime's PartitionClocks: its timers keep the schedule)."""

    def newest(self, partition: int) -> int: ...
    def saw_event(self, partition: int, ts: int) -> None: ...
    def set(self, partition: int, key: str, due: int | None) -> None: ...


class Store(Protocol):
    def get_record(self, handle: Any, key: str) -> dict[str, Any] | None: ...
    def put_record(self, handle: Any, key: str, record: dict[str, Any] | None) -> None:
        """Write a customer's record (None: delete it, a tombstone in the changelog)."""

    def get_timer(self, handle: Any, key: str) -> int | None: ...
    def put_timer(self, handle: Any, key: str, due: int | None) -> None: ...


@dataclass(slots=True)
class Slot:
    """A customer touched by the batch."""

    handle: Any
    partition: int
    record: dict[str, Any]
    due_before: int | None
    dirty: bool = False
    fresh: bool = False  # no stored record: made for this batch
    heal: bool = False  # a redelivery was skipped: re-check the timers table against the state
    stuck: bool = False  # its due tick failed (a bug): not scheduled again until its next event
    erased: bool = False  # an erasure request ran: a tombstone unless later events refilled it


@dataclass
class Outputs:
    batch: Batch
    actions: int = 0
    decisions: int = 0
    pending: list[Callable[..., None]] = field(default_factory=list)


@dataclass(slots=True)
class Applied:
    """A batch run through the engine: its outputs produced, its state not yet written."""

    out: Outputs
    finish: Callable[[], None]


def action_headers(
    format_headers: tuple[tuple[str, str | bytes | None], ...],
    source: dict[str, Any] | None,
) -> list[tuple[str, str | bytes | None]]:
    """An action record's headers: its format's (content type, schema id), where the event
    behind it was read (none for a timer's action) and that event's W3C ``traceparent``, if it
    carried one (app/core/trace.py)."""
    headers = list(format_headers)
    if source:
        headers += [
            ("segue-source-topic", str(source["topic"]).encode()),
            ("segue-source-partition", str(source["partition"]).encode()),
            ("segue-source-offset", str(source["offset"]).encode()),
        ]
        trace = source.get("traceparent")
        if trace:  # the event's trace, on to what it caused (app/core/trace.py)
            headers.append((TRACEPARENT, trace.encode()))
            state = source.get("tracestate")
            if state:
                headers.append((TRACESTATE, state.encode()))
    return headers


def new_record(key: str) -> dict[str, Any]:
    return {"sources": {}, "profile": new_profile(key), "journeys": {}}


def applied_before(record: dict[str, Any], event: dict[str, Any]) -> bool:
    """True if this input record was already applied (and record it as applied if not).

    Processing is at-least-once: after a crash, ingest may forward input records again and
    the journey agent may see customer-events records again. Ingest forwards each input
    partition in order, so for one key the input offsets from one input partition only grow;
    an offset at or below the last applied one is a repeat."""
    source = event.get("source")
    if not source:
        return False
    slot = f"{source['topic']}/{source['partition']}"
    via = source.get("via")  # the path through other partitions (identity, a tombstone)
    if via is not None:
        slot = f"{slot}>{via}"
    sources = record["sources"]
    if source["offset"] <= sources.get(slot, -1):
        return True
    sources[slot] = source["offset"]
    return False


class JourneyProcessor:
    def __init__(
        self,
        engine: Engine,
        names: TopicNames,
        sink: Outlet,
        index: Clocks,
        latency: LatencyTracker,
        clock: Callable[[], float] = time.time,
        partitions: int = 4,
        on_erased: Callable[[str], None] | None = None,
        writer: Callable[[str], Writer] | None = None,
    ) -> None:
        #: how each action topic is written (app/formats: JSON unless the deployment says)
        self.writer: Callable[[str], Writer] = writer or (lambda _topic: JSON_WRITER)
        #: told of each erased customer (ingest's memory of the claims it sent)
        self.on_erased = on_erased
        self.partitions = partitions
        self.engine = engine
        self.names = names
        self.sink = sink
        self.index = index
        self.latency = latency
        self.clock = clock
        self._clock_written: dict[int, int] = {}
        #: adaptive steps' statistics, per partition in the store (stream/arm_books.py)
        self.books: StoredBooks | None = None
        if engine.adaptive:
            self.books = engine.arms = StoredBooks()

    def apply(self, items: list[Item], store: Store) -> Applied:
        """Run the batch through the engine and produce its outputs; ``finish()`` then writes
        its state. The runtime calls ``finish`` at once, its checkpoint ordering what becomes
        durable (app/runtime/checkpoint.py)."""
        engine = self.engine
        slots: dict[str, Slot] = {}
        out = Outputs(self.sink.batch())
        index = self.index
        clocks: dict[int, Item] = {}  # partitions whose newest event time moved: one of their items
        updates = 0  # events folded (counted once per batch: an inc takes a lock)
        duplicates = 0  # copies the engine dropped (app/core/duplicates.py)
        books = self.books
        if books is not None:
            books.begin(store)
        for item in items:
            value = item.value
            key = value["key"]
            if books is not None:
                books.at(item.partition, item.handle)
            slot = slots.get(key)
            if slot is None:
                record = store.get_record(item.handle, key)
                fresh = record is None
                if record is None:
                    record = new_record(key)
                    if "op" not in value:
                        metrics.PROFILES_CREATED.inc()
                if "merged_into" in record:
                    slot = Slot(item.handle, item.partition, record, None)
                else:
                    jstate = record.get("journeys") or engine.new_state(key)
                    record["journeys"] = jstate
                    slot = Slot(item.handle, item.partition, record, next_due(jstate))
                slot.fresh = fresh
                slots[key] = slot
            record = slot.record
            # A record that fails here is a bug of ours: it goes to the DLQ and the partition
            # goes on (the customer's state keeps what the engine changed before the error).
            try:
                if value.get("op") == ERASE:  # a merged-away key of an erased customer
                    slot.record = self._fresh(key)
                    slot.erased = slot.dirty = True
                    continue
                if "merged_into" in record:
                    self._to_survivor(record, value, item, out)
                    slot.dirty = True
                    continue
                op = value.get("op")
                if op is not None:
                    self._control(op, value, key, slot, item, out)
                    continue
                tick = value.get("tick")
                if tick is not None:
                    TICKS.inc()
                    due = next_due(record["journeys"])
                    if due is None or due > tick:
                        continue  # a duplicate or stale tick: nothing is due
                    outcome = engine.advance(record["profile"], record["journeys"], tick)
                    source = None
                else:
                    if value["ts"] > index.newest(item.partition):
                        index.saw_event(item.partition, value["ts"])
                        clocks[item.partition] = item
                    if applied_before(record, value):
                        metrics.REDELIVERED_SKIPPED.inc()
                        slot.heal = True
                        continue
                    if is_erasure(value):
                        self._erase(key, slot, value, item, out)
                        continue
                    outcome = engine.handle_event(record["profile"], record["journeys"], value)
                    if outcome.duplicates:  # nothing changed but the offset guard's record
                        duplicates += 1
                        slot.dirty = True
                        continue
                    updates += 1
                    source = value.get("source")
                slot.dirty = True
                slot.handle = item.handle
                self._emit(outcome, key, item.partition, source, out)
            except Exception as exc:
                slot.dirty = True
                if "tick" in value:
                    slot.stuck = True  # its due time would fire it again at once: unscheduled
                dead_letter_value(
                    self.sink,
                    out.batch,
                    self.names.dlq,
                    internal_error(AGENT, exc),
                    value,
                    key,
                    (self.names.customer_events, item.partition, item.offset),
                )
        if updates:
            metrics.PROFILE_UPDATES.inc(updates)
        if duplicates:
            metrics.EVENTS_DUPLICATE.inc(duplicates)
        return Applied(out, lambda: self._finish(slots, clocks, out, store))

    def _finish(
        self, slots: dict[str, Slot], clocks: dict[int, Item], out: Outputs, store: Store
    ) -> None:
        index = self.index
        for done in out.pending:
            done()
        for key, slot in slots.items():
            jstate = slot.record.get("journeys")
            due = next_due(jstate) if jstate is not None and not slot.stuck else None
            if slot.erased and not slot.record["profile"]["counts"]:
                store.put_record(slot.handle, key, None)  # nothing since: a tombstone
            elif slot.dirty:
                store.put_record(slot.handle, key, slot.record)
            if due != slot.due_before or (slot.heal and store.get_timer(slot.handle, key) != due):
                store.put_timer(slot.handle, key, due)
            index.set(slot.partition, key, due)
        for partition, item in clocks.items():
            newest = index.newest(partition)
            # Kept coarse: a changelog write per partition per batch would cost more than the
            # events. After a restart the partition's time may lag by up to CLOCK_STEP_MS until
            # the next event: its timers fire that much later, never earlier, never lost.
            if newest - self._clock_written.get(partition, 0) >= CLOCK_STEP_MS:
                store.put_timer(item.handle, clock_key(partition), newest)
                self._clock_written[partition] = newest
        if self.books is not None:
            self.books.write()
        for jid, n in self.engine.failures.items():
            EXPRESSION_FAILURES.labels(jid).set(n)

    # -- identity ------------------------------------------------------------------------------

    def _to_survivor(
        self, record: dict[str, Any], value: dict[str, Any], item: Item, out: Outputs
    ) -> None:
        """A record for a key merged away: an event goes on to the customer it merged into."""
        if "op" in value or "tick" in value:
            return  # a stale tick or a repeated merge-out: nothing left here
        if applied_before(record, value):
            metrics.REDELIVERED_SKIPPED.inc()
            return
        survivor = record["merged_into"]
        forwarded = dict(value)
        forwarded["key"] = survivor
        source = value.get("source")
        if source:  # one more hop on its path: this partition (``t`` for tombstone)
            via = source.get("via")
            here = f"t{item.partition}"
            forwarded["source"] = {**source, "via": f"{via}.{here}" if via else here}
        self._to_internal(out, self.names.customer_events, survivor, forwarded)

    def _to_internal(self, out: Outputs, topic: str, key: str, value: dict[str, Any]) -> None:
        """A record to one of the pipeline's own keyed topics, on the key's partition."""
        kbytes = key.encode()
        self.sink.produce(
            out.batch,
            topic,
            kbytes,
            orjson.dumps(value),
            partition=partition_for(kbytes, self.partitions),
            internal=True,
        )

    # -- erasure (core/erasure.py, docs/privacy.md) -------------------------------------------

    def _erase(
        self, key: str, slot: Slot, request: dict[str, Any], item: Item, out: Outputs
    ) -> None:
        """Carry out an erasure request: what is due fires, then the profile, journey state and
        timer go (tombstones at the checkpoint), and the customer's other stores are told: each
        identifier's row (segue.identity), each merged anonymous key's record (customer-events),
        the sinks' dedupe stores (every action topic). A receipt per store goes to segue.audit."""
        record = slot.record
        outcome = before_erasure(self.engine, record["profile"], record["journeys"], request)
        self._emit(outcome, key, item.partition, None, out)
        request_id = str(request["properties"].get("request_id") or request["event_id"])
        merged = list(record.get("merged") or ())
        # (a merged visitor's anonymous id is usually among the linked ones already)
        identifiers = list(
            dict.fromkeys([*(record.get("ids") or ()), *(f"anonymous_id:{a}" for a in merged)])
        )
        slot.record = self._fresh(key)
        slot.erased = slot.dirty = True
        position = item.offset * ERASE_FANOUT
        for n, ident in enumerate(identifiers):
            forget = {
                "op": "forget",
                "identifier": ident,
                "customer": key,
                "request_id": request_id,
                "from": [f"e{item.partition}", position + n],
            }
            self._to_internal(out, self.names.identity, ident, forget)
        for anonymous in merged:
            erase = {"op": ERASE, "key": anonymous, "request_id": request_id}
            self._to_internal(out, self.names.customer_events, anonymous, erase)
        kbytes = key.encode()
        for topic in self.names.actions.values():
            self.sink.produce(
                out.batch,
                topic,
                kbytes,
                orjson.dumps({"op": ERASE, "customer_id": key, "request_id": request_id}),
            )
        receipt = {
            "kind": "erasure",
            "request_id": request_id,
            "store": "profiles",
            "at": format_ms(int(self.clock() * 1000)),
            "identity_rows_asked": len(identifiers),
            "merged_keys_asked": len(merged),
        }
        self.sink.produce(out.batch, self.names.audit, b"erasure", orjson.dumps(receipt))
        metrics.ERASURES.labels("profiles").inc()
        if self.on_erased is not None:
            self.on_erased(key)

    def _fresh(self, key: str) -> dict[str, Any]:
        """The record a key starts again from after an erasure."""
        record = new_record(key)
        record["journeys"] = self.engine.new_state(key)
        return record

    @staticmethod
    def _add_id(record: dict[str, Any], ident: str) -> None:
        ids = record.setdefault("ids", [])
        if ident not in ids and len(ids) < MAX_IDS:
            ids.append(ident)

    def _control(
        self, op: str, value: dict[str, Any], key: str, slot: Slot, item: Item, out: Outputs
    ) -> None:
        record = slot.record
        if op == "merge-in":
            merged = record.setdefault("merged", [])
            if value["from"] in merged:
                metrics.REDELIVERED_SKIPPED.inc()
                return
            outcome = fold_in(
                self.engine,
                record["profile"],
                record["journeys"],
                value["profile"],
                value["journeys"],
                value["at"],
            )
            merged.append(value["from"])
            del merged[:-MAX_MERGED]
            slot.dirty = True
            self._emit(outcome, key, item.partition, None, out)
            return
        # linked / merge-out are idempotent by the state they change: no offset guard
        empty = slot.fresh and not slot.dirty  # nothing was ever folded under this key
        slot.dirty = True
        if op == "linked":
            self._add_id(record, value["identifier"])
        elif op == "merge-out":
            into = value["into"]
            if not empty:
                outcome = retire(self.engine, record["profile"], record["journeys"], value["at"])
                self._emit(outcome, key, item.partition, None, out)
                merge_in = {
                    "op": "merge-in",
                    "key": into,
                    "from": key,
                    "at": value["at"],
                    "profile": record["profile"],
                    "journeys": record["journeys"],
                }
                self._to_internal(out, self.names.customer_events, into, merge_in)
            slot.record = {"sources": record["sources"], "merged_into": into}

    def _emit(
        self,
        outcome: Outcome,
        key: str,
        partition: int,
        source: dict[str, Any] | None,
        out: Outputs,
    ) -> None:
        """Produce an outcome's records; ``source``: where the event behind it was read (None
        for a timer's), which its actions' headers name."""
        if not outcome.outcomes:  # nothing happened to any entry: no action, no decision
            return
        source_ts = source.get("timestamp") if source else None
        now = int(self.clock() * 1000)
        decided_at = format_ms(now)
        source_at = format_ms(source_ts) if source_ts is not None else None
        kbytes = key.encode()
        sink, batch = self.sink, out.batch
        outcomes_topic = self.names.outcomes
        for record in outcome.outcomes:
            record["decided_at"] = decided_at
            record["source_timestamp"] = source_at
            okey = kbytes if record["customer_id"] == key else record["customer_id"].encode()
            sink.produce(batch, outcomes_topic, okey, orjson.dumps(record))
            out.pending.append(child(OUTCOMES, record["journey"], record["kind"]).inc)
        encoded = []  # all first: one that does not encode sends none of its outcome's
        for action in outcome.actions:
            action["decided_at"] = decided_at
            action["source_timestamp"] = source_at
            topic = self.names.actions[action["channel"]]
            writer = self.writer(topic)
            encoded.append((action, topic, writer.encode(action), writer.headers))
        for action, topic, value, format_headers in encoded:
            channel = action["channel"]
            sink.produce(
                batch,
                topic,
                kbytes,
                value,
                on_delivered=self._on_delivered(partition, source_ts, action),
                headers=action_headers(format_headers, source),
            )
            out.pending.append(child(ACTIONS, channel, action["journey"]).inc)
        for decision in outcome.decisions:
            decision["decided_at"] = decided_at
            decision["source_timestamp"] = source_at
            sink.produce(batch, self.names.decisions, kbytes, orjson.dumps(decision))
            out.pending.append(child(DECISIONS, decision["reason"]).inc)

    def _on_delivered(
        self, partition: int, source_ts: int | None, action: dict[str, Any]
    ) -> Callable[[int], None]:
        if source_ts is not None:
            record = self.latency.record

            def event_latency(delivered: int) -> None:
                record(partition, delivered - source_ts)

            return event_latency
        due = parse_rfc3339(action["event_time"])
        gauge = TIMER_LAG.labels(str(partition))

        def timer_lag(delivered: int) -> None:
            gauge.set((delivered - due) / 1000)

        return timer_lag
