"""The identity wiring without a broker: ingest's router, the identity agent and the journey
agent's merge records, connected by an in-memory bus. Expected results come from the pure core
(``replay_resolved``), never written down by hand."""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from typing import Any

import orjson

from app.core.envelope import validate_event
from app.core.identity import IdentityConfig, hash_email
from app.core.identity_replay import replay_resolved
from app.core.timeutil import format_ms
from app.partitioner import partition_for
from app.settings import Settings
from app.stream.identity_agent import MARK_PREFIX, IdentityProcessor, IngestRouter
from app.stream.journey_agent import Item, JourneyProcessor
from app.stream.latency import LatencyTracker
from app.stream.sink import Batch
from app.topics.specs import TopicNames
from app.worker.journeys import PartitionClocks
from tests.unit.test_journey_agent import T0, DictStore, Fired, engine

PARTITIONS = 2
CONFIG = IdentityConfig()
FIELDS = ("counts", "first_seen", "last_seen", "attributes", "consent", "lifetime_value")


class Bus:
    """A sink whose records land in per-partition queues, with offsets, like a broker's."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, int], list[tuple[int, bytes]]] = defaultdict(list)
        self.ends: dict[tuple[str, int], int] = defaultdict(int)
        self.log: list[str] = []
        self.published: list[tuple[str, bytes | None, bytes]] = []

    def batch(self) -> Batch:
        return Batch()

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        **_kw: Any,
    ) -> None:
        self.published.append((topic, key, value))
        tp = (topic, partition or 0)
        self.queues[tp].append((self.ends[tp], value))
        self.ends[tp] += 1


class Rows:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get_row(self, handle: Any, ident: str) -> dict[str, Any] | None:
        row = self.rows.get(ident)
        return copy.deepcopy(row) if row is not None else None

    def put_row(self, handle: Any, ident: str, row: dict[str, Any]) -> None:
        self.rows[ident] = copy.deepcopy(row)


class Stream:
    """Ingest, identity agent and journey agent over the bus; ``drain`` runs until quiet."""

    def __init__(self) -> None:
        self.names = TopicNames(Settings())
        self.bus = Bus()
        sink: Any = self.bus
        self.router = IngestRouter(self.names, sink, PARTITIONS, CONFIG)
        self.identity = IdentityProcessor(self.names, sink, PARTITIONS, CONFIG)
        self.clocks = PartitionClocks()
        self.fired = Fired()
        self.journeys = JourneyProcessor(
            engine(),
            self.names,
            sink,
            self.clocks,
            LatencyTracker(200),
            clock=lambda: T0 / 1000,
            partitions=PARTITIONS,
        )
        self.rows = Rows()
        self.store = DictStore(self.bus.log)
        self.ingested = 0

    def ingest(self, events: list[dict[str, Any]]) -> None:
        out = Batch()
        for raw in events:
            event = validate_event(raw)
            event["source"] = {"topic": "events", "partition": 0, "offset": self.ingested}
            event["source"]["timestamp"] = T0
            self.ingested += 1
            self.router.send(out, event)

    def drain(self, crash: bool = False) -> None:
        """Process every queued record, batch by batch, until nothing is left. ``crash``: each
        batch runs twice, as after a crash between its state writes and its offset commit (the
        second run sees the written state, its outputs are sent again, memory is lost)."""
        while True:
            pending = [(tp, q) for tp, q in self.bus.queues.items() if q]
            if not pending:
                return
            for (topic, partition), queue in pending:
                items = [Item(orjson.loads(v), partition, off) for off, v in queue]
                queue.clear()
                self.run(topic, items)
                if crash:
                    self.router.claims._sent.clear()
                    self.identity.claims._sent.clear()
                    self.run(topic, items)

    def run(self, topic: str, items: list[Item]) -> None:
        copies = [Item(copy.deepcopy(i.value), i.partition, i.offset) for i in items]
        if topic == self.names.identity:
            self.identity.apply(copies, self.rows)[1]()
        elif topic == self.names.customer_events:
            self.journeys.apply(copies, self.store).finish()

    def tick_until(self, until: int) -> None:
        def partition_of(key: str) -> int:
            return partition_for(key.encode(), PARTITIONS)

        while due := self.fired.due(self.store, self.clocks, until, partition_of):
            for partition, tick in due:
                tp = (self.names.customer_events, partition)
                self.bus.queues[tp].append((self.bus.ends[tp], orjson.dumps(tick)))
                self.bus.ends[tp] += 1
            self.drain()

    def profiles(self) -> dict[str, dict[str, Any]]:
        return {k: r["profile"] for k, r in self.store.records.items() if "profile" in r}

    def published(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, _, v in self.bus.published if t == topic]

    def actions(self) -> set[str]:
        channels = set(self.names.actions.values())
        return {orjson.loads(v)["action_id"] for t, _, v in self.bus.published if t in channels}


def raw(
    i: int,
    etype: str,
    customer: str | None = None,
    anonymous: str | None = None,
    props: dict[str, Any] | None = None,
    **ids: str,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"e-{i:04d}",
        "type": etype,
        "timestamp": format_ms(T0 + i * 1000),
        "properties": props or {},
        "context": {"identifiers": ids} if ids else {},
    }
    if customer:
        event["customer_id"] = customer
    if anonymous:
        event["anonymous_id"] = anonymous
    return event


def expected(events: list[dict[str, Any]], until: int) -> Any:
    return replay_resolved([validate_event(e) for e in events], engine(), CONFIG, until, None, True)


def pick(profile: dict[str, Any]) -> dict[str, Any]:
    return {f: profile[f] for f in FIELDS}


def owners(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows without the stream's bookkeeping (``o``, the offset of the linking claim)."""
    return {
        k: {f: v for f, v in row.items() if f != "o"}
        for k, row in rows.items()
        if not k.startswith(MARK_PREFIX)
    }


def cross_device() -> list[dict[str, Any]]:
    """Anonymous browsing on a phone (arrived from an email link: its email hash), login on a
    laptop, the phone's cart abandoned after the login."""
    phone = {"device_id": "phone-1", "email_hash": "h-1"}
    events = [raw(i, "PageViewed", anonymous="a-phone", **phone) for i in range(4)]
    events.append(raw(4, "CartUpdated", anonymous="a-phone", props={"cart_value": 40.0}, **phone))
    events.append(
        raw(5, "Identify", "c-1", "a-laptop", {"email": "x@y"}, device_id="lap", email_hash="h-1")
    )
    events.append(raw(6, "PageViewed", anonymous="a-laptop", device_id="lap"))
    events.append(raw(7, "CartAbandoned", anonymous="a-phone", props={"cart_value": 40.0}, **phone))
    return events


def test_the_cross_device_flow_ends_in_one_profile_with_the_anonymous_history() -> None:
    events = cross_device()
    until = T0 + 60_000
    result, identity, states = expected(events, until)
    s = Stream()
    for e in events:  # one at a time: the live order is the time order
        s.ingest([e])
        s.drain()
    s.tick_until(until)
    live = s.profiles()
    assert set(live) == set(states) == {"c-1"}  # both anonymous ids merged away
    assert pick(live["c-1"]) == pick(states["c-1"][0])
    assert live["c-1"]["counts"]["PageViewed"] == 5  # the phone's 4 and the laptop's 1
    assert owners(s.rows.rows) == identity.rows
    assert s.actions() == {a["action_id"] for a in result.actions}
    assert result.actions  # the cart journey acted for the customer
    assert {a["customer_id"] for a in result.actions} == {"c-1"}
    assert s.store.records["a-phone"]["merged_into"] == "c-1"
    assert sorted(s.store.records["c-1"]["ids"]) == identity.identifiers_of_customer("c-1")


def test_an_address_sent_as_email_hash_links_alike_live_and_in_replay() -> None:
    """The phone's SDK sends the address where the hash belongs, the login the hash (in capitals):
    both are the same key, and the address never becomes one."""
    hashed = hash_email("ann@example.com")
    phone = {"device_id": "phone-1", "email_hash": " Ann@Example.com "}
    events = [raw(i, "PageViewed", anonymous="a-phone", **phone) for i in range(3)]
    login = {"email": "ann@example.com"}
    events.append(raw(3, "Identify", "c-1", "a-laptop", login, email_hash=hashed.upper()))
    events.append(raw(4, "PageViewed", anonymous="a-phone", **phone))
    _, identity, states = expected(events, T0 + 60_000)
    s = Stream()
    for e in events:
        s.ingest([e])
        s.drain()
    assert set(s.profiles()) == set(states) == {"c-1"}  # the phone was linked through the hash
    assert s.profiles()["c-1"]["counts"]["PageViewed"] == 4
    assert owners(s.rows.rows) == identity.rows
    assert identity.rows[f"email_hash:{hashed}"] == {"c": "c-1"}
    assert not [k for k in identity.rows if "@" in k or "Ann" in k]


def same_device(position: int) -> list[dict[str, Any]]:
    """The same events, the ``Identify`` arriving before, between or after the anonymous ones
    (its event time stays the same: only the arrival order changes)."""
    anon = [raw(i, "PageViewed", anonymous="a-1") for i in range(6)]
    anon[2] = raw(2, "ProfileUpdated", anonymous="a-1", props={"plan": "free"})
    anon[4] = raw(4, "ProfileUpdated", anonymous="a-1", props={"tenure": 3})
    identify = raw(100, "Identify", "c-1", "a-1", {"email": "x@y", "plan": "gold"})
    identify["timestamp"] = format_ms(T0 + 3500)
    return [*anon[:position], identify, *anon[position:]]


def test_identify_before_between_and_after_gives_the_pure_cores_profile() -> None:
    profiles = []
    for position in (0, 3, 6):
        events = same_device(position)
        _, _, states = expected(events, T0 + 60_000)
        s = Stream()
        s.ingest(events)  # all at once: batches interleave as they come
        s.drain()
        live = s.profiles()
        assert set(live) == {"c-1"}
        assert pick(live["c-1"]) == pick(states["c-1"][0])
        profiles.append(pick(live["c-1"]))
    assert profiles[0] == profiles[1] == profiles[2]


def test_a_conflicting_claim_goes_to_review_with_both_ids_and_nothing_merges() -> None:
    events = [
        raw(0, "Identify", "c-1", "a-1", device_id="d-1"),
        raw(1, "Identify", "c-2", "a-1", device_id="d-1"),
    ]
    _, identity, states = expected(events, T0 + 1000)
    s = Stream()
    s.ingest(events)
    s.drain()
    reviews = s.published(s.names.identity_review)
    assert sorted((r["identifier"], r["customer_id"], r["claimed_by"]) for r in reviews) == sorted(
        (c["identifier"], c["customer_id"], c["claimed_by"]) for c in identity.conflicts
    )
    assert {r["claimed_by"] for r in reviews} == {"c-2"} and len(reviews) == 2
    assert set(s.profiles()) == set(states) == {"c-1", "c-2"}


def test_a_known_device_resolves_a_new_anonymous_id_through_a_probe() -> None:
    events = [
        raw(0, "PageViewed", "c-1", device_id="d-1"),
        raw(1, "PageViewed", anonymous="a-new", device_id="d-1"),
        raw(2, "PageViewed", anonymous="a-new", device_id="d-1"),
    ]
    _, identity, states = expected(events, T0 + 3000)
    s = Stream()
    for e in events:
        s.ingest([e])
        s.drain()
    assert set(s.profiles()) == set(states) == {"c-1"}
    assert s.profiles()["c-1"]["counts"] == states["c-1"][0]["counts"] == {"PageViewed": 3}
    assert owners(s.rows.rows) == identity.rows


def random_stream(seed: int, n: int = 80) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        anon = f"a-{rng.randint(1, 6)}"
        customer = f"c-{rng.randint(1, 3)}"
        ids = {"device_id": f"d-{rng.randint(1, 4)}"} if rng.random() < 0.5 else {}
        kind = rng.random()
        if kind < 0.15:
            events.append(raw(i, "Identify", customer, anon, {"email": f"{customer}@x"}, **ids))
        elif kind < 0.6:
            etype = rng.choice(["PageViewed", "CartAbandoned", "ProfileUpdated"])
            props = {"cart_value": 30.0} if etype == "CartAbandoned" else {"plan": str(i)}
            events.append(raw(i, etype, anonymous=anon, props=props, **ids))
        else:
            events.append(raw(i, "OrderPlaced", customer, props={"total": 1.0 + i}, **ids))
    return events


def test_random_streams_one_event_at_a_time_agree_with_replay() -> None:
    for seed in range(8):
        events = random_stream(seed)
        until = T0 + len(events) * 1000 + 60_000
        result, identity, states = expected(events, until)
        s = Stream()
        for e in events:
            s.ingest([e])
            s.drain()
        s.tick_until(until)
        live = s.profiles()
        assert set(live) == set(states), seed
        for key, (profile, _) in states.items():
            assert pick(live[key]) == pick(profile), (seed, key)
        assert owners(s.rows.rows) == identity.rows
        assert s.actions() == {a["action_id"] for a in result.actions}, seed


def test_random_streams_in_batches_lose_nothing_and_count_nothing_twice() -> None:
    for seed in range(8):
        events = random_stream(seed)
        s = Stream()
        s.ingest(events)
        s.drain()
        total = sum(sum(p["counts"].values()) for p in s.profiles().values())
        assert total == len(events), seed
        _, _, states = expected(events, T0 + len(events) * 1000)
        assert set(s.profiles()) == set(states), seed


def test_batches_processed_again_after_a_crash_change_nothing() -> None:
    for seed in range(6):
        events = random_stream(seed)
        calm, crashy = Stream(), Stream()
        for stream, crash in ((calm, False), (crashy, True)):
            for start in range(0, len(events), 5):
                stream.ingest(events[start : start + 5])
                if crash:  # ingest's batch forwarded twice as well
                    stream.ingested -= 5
                    stream.router.claims._sent.clear()
                    stream.ingest(events[start : start + 5])
                stream.drain(crash)
        assert {k: pick(p) for k, p in crashy.profiles().items()} == {
            k: pick(p) for k, p in calm.profiles().items()
        }, seed
        assert owners(crashy.rows.rows) == owners(calm.rows.rows), seed
        assert crashy.actions() == calm.actions(), seed


def test_claims_of_an_erased_customer_are_sent_again() -> None:
    """An erasure deletes the customer's rows: ingest must not skip their next claims as
    already sent (Claims remembers what it sent)."""
    from app.stream.identity_agent import Claims

    sent: list[tuple[str, str]] = []

    class Recorder:
        def identity(self, _out: object, ident: str, value: dict[str, Any]) -> None:
            sent.append((ident, value["customer"]))

    claims = Claims(Recorder())  # type: ignore[arg-type]
    event = {"event_id": "e", "type": "Identify", "ts": 1, "timestamp": "x", "key": "c-1"}
    for _ in range(2):
        claims.send(None, "email_hash:x", "c-1", "customer_id", event)  # type: ignore[arg-type]
        claims.send(None, "email_hash:y", "c-2", "customer_id", event)  # type: ignore[arg-type]
    assert sent == [("email_hash:x", "c-1"), ("email_hash:y", "c-2")]  # repeats skipped
    claims.forget("c-1")
    claims.send(None, "email_hash:x", "c-1", "customer_id", event)  # type: ignore[arg-type]
    claims.send(None, "email_hash:y", "c-2", "customer_id", event)  # type: ignore[arg-type]
    assert sent[2:] == [("email_hash:x", "c-1")]
