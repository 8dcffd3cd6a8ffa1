"""Identity resolution in the stream: ingest's routing and the identity agent (docs/identity.md).

    ingest: event with a customer id --> customer-events (key = customer)   [no extra hop]
                                     +-> claim per identifier --> segue.identity (key = identifier)
            event without one ---------> route --> segue.identity (key = anonymous_id:<id>)
    identity agent (one writer per identifier row, the ``identity`` table on its partitions):
      route  the anonymous id's row: owned -> re-key to the owner; unowned and the event carries
             other identifiers -> probe them (carrying the event); else under the anonymous id
      probe  an owned identifier turns it into a claim of the anonymous id (carrying the event);
             else the next identifier, or the event goes on under its anonymous id
      claim  ``apply_link``: a new owner -> ``linked`` (keyed by the customer); a linked
             anonymous id -> ``merge-out`` (keyed by it); a conflict -> segue.identity-review;
             a carried event -> re-keyed to the owner

Redelivery (at-least-once; docs/identity.md, "Ordering guarantees"):

- An event keeps ingest's ``source`` (input topic, partition, offset) and gains ``via``, the
  identity partitions it went through (``"2"``, or ``"2.0.2"`` after a probe). Each hop is a
  FIFO queue, so along one path the input offsets only grow: the journey agent's guard keys its
  slot by (input partition, path) and drops what a crash made ingest or this agent send twice.
- Every identity record carries ``from``: where it was made (ingest's input partition, or
  ``i<partition>`` for this agent) and a position growing with that input's offset. Records of
  one origin reach a partition in order, so the agent keeps the highest position per (partition,
  origin) in the table, next to the rows, and skips anything at or below it: a batch that
  ingest or this agent ran again after a crash sends nothing twice past this point.
- A row remembers the offset ``o`` of the claim that created it; a record at a lower offset
  (one processed before the claim, seen again after a crash) treats the row as absent, so a
  re-run batch routes exactly as the first run did.
- ``linked``, ``merge-out`` and ``merge-in`` are idempotent by the state they change (an id list,
  a tombstone, the record's ``merged`` list), so they need no offset guard.

Batches follow the journey agent's order: outputs are produced, the rows go to the store's
cache, and the runtime's checkpoint makes them durable only after every output is acknowledged
(a crash before that re-runs the batch on the old rows, with the same offsets). This module
knows no Kafka: rows are reached through :class:`RowStore`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from prometheus_client import Counter

from app.core.identity import ANONYMOUS, IdentityConfig, Link, apply_link, identifiers_of
from app.core.timeutil import format_ms
from app.partitioner import partition_for
from app.stream.failures import dead_letter_value, internal_error
from app.stream.metrics import ERASURES
from app.stream.sink import Batch, Outlet
from app.topics.specs import TopicNames

ROUTE, PROBE, CLAIM = "route", "probe", "claim"
#: an erasure (the journey agent's): the identifier's row goes if the customer owns it
FORGET = "forget"
LINKED, MERGE_OUT, MERGE_IN = "linked", "merge-out", "merge-in"
#: (identifier, customer) claims remembered as already sent (a claim repeated changes nothing)
CLAIMS_REMEMBERED = 200_000

IDENTITY_OPS = Counter("segue_identity_records_total", "Identity records handled", ["op"])
LINKS = Counter("segue_identity_links_total", "Identifiers linked to a customer")
MERGES = Counter("segue_identity_merges_total", "Anonymous visitors merged into a customer")
CONFLICTS = Counter("segue_identity_conflicts_total", "Identity conflicts sent for review")
DUPLICATES = Counter(
    "segue_identity_duplicates_skipped_total", "Identity records sent again upstream, skipped"
)

#: identity-table keys of the per-(partition, origin) high-water marks (NUL: never an identifier)
MARK_PREFIX = "\x00from/"

_ANON = ANONYMOUS + ":"


class RowStore(Protocol):
    def get_row(self, handle: Any, ident: str) -> Link | None: ...
    def put_row(self, handle: Any, ident: str, row: Link | None) -> None:
        """Write an identifier's row (None: delete it, a tombstone in the changelog)."""


def brief(event: dict[str, Any]) -> dict[str, Any]:
    """What a claim keeps of its event (for the review record and the merge time)."""
    return {
        "event_id": event["event_id"],
        "type": event["type"],
        "timestamp": event["timestamp"],
        "ts": event["ts"],
    }


#: outputs one input record may send to segue.identity (its position is offset * this + n)
FANOUT = 16


class Sender:
    """Produces to segue.identity and customer-events. Every identity record is stamped
    ``from: [origin, position]``: its producer's input partition and a position that grows with
    the input offset (``offset * FANOUT + n`` for its n-th output), so the identity agent can drop
    a record sent again by a re-run batch (see ``IdentityProcessor``)."""

    def __init__(self, names: TopicNames, sink: Outlet, partitions: int) -> None:
        self.names = names
        self.sink = sink
        self.partitions = partitions
        self._origin = ""
        self._next = 0

    def begin(self, origin: str, offset: int) -> None:
        """The input record whose outputs follow."""
        self._origin = origin
        self._next = offset * FANOUT

    def identity(self, out: Batch, ident: str, value: dict[str, Any]) -> None:
        value["from"] = [self._origin, self._next]
        self._next += 1
        key = ident.encode()
        self.sink.produce(
            out,
            self.names.identity,
            key,
            orjson.dumps(value),
            partition=partition_for(key, self.partitions),
            internal=True,
        )

    def customer(self, out: Batch, key: str, value: dict[str, Any]) -> None:
        kbytes = key.encode()
        self.sink.produce(
            out,
            self.names.customer_events,
            kbytes,
            orjson.dumps(value),
            partition=partition_for(kbytes, self.partitions),
            internal=True,
        )


class Claims:
    """Sends claims, skipping those already sent by this process: a claim sent again finds the
    row as the first one left it (rows only gain an owner, never lose it, but to an erasure),
    so it would change nothing. Forgetting (a restart, the bound, an erasure) only costs a
    repeated, harmless claim."""

    def __init__(self, send: Sender) -> None:
        self.send_to = send
        self._sent: set[tuple[str, str]] = set()

    def send(
        self,
        out: Batch,
        ident: str,
        customer: str,
        via: str,
        event: dict[str, Any],
        carry: dict[str, Any] | None = None,
    ) -> None:
        if carry is None:
            memo = (ident, customer)
            if memo in self._sent:
                return
            if len(self._sent) >= CLAIMS_REMEMBERED:
                self._sent.clear()
            self._sent.add(memo)
        value: dict[str, Any] = {
            "op": CLAIM,
            "identifier": ident,
            "customer": customer,
            "via": via,
            "event": brief(event),
        }
        if carry is not None:
            value["carry"] = carry
        self.send_to.identity(out, ident, value)

    def forget(self, customer: str) -> None:
        """The customer was erased: their rows are gone, so their next claims must be sent."""
        self._sent = {memo for memo in self._sent if memo[1] != customer}


class IngestRouter:
    """Ingest's side: where a validated event goes (see the module docstring)."""

    def __init__(
        self, names: TopicNames, sink: Outlet, partitions: int, config: IdentityConfig
    ) -> None:
        self.config = config
        self.send_to = Sender(names, sink, partitions)
        self.claims = Claims(self.send_to)

    def send(self, out: Batch, event: dict[str, Any], here: int | None = None) -> bool:
        """Route ``event``; True when it stays: it has a customer id whose partition is
        ``here`` (the caller's own customer partition), so the caller handles it itself
        instead of sending it through customer-events. Its claims are sent either way."""
        customer = event["customer_id"]
        send_to = self.send_to
        source = event["source"]
        if customer is None:
            send_to.begin(f"{source['topic']}/{source['partition']}", source["offset"])
            send_to.identity(out, _ANON + event["anonymous_id"], {"op": ROUTE, "event": event})
            return False
        stays = here is not None and partition_for(customer.encode(), send_to.partitions) == here
        if not stays:
            send_to.customer(out, customer, event)
        if event["anonymous_id"] is None and not event["context"]:
            return stays  # the common case: nothing to claim
        idents = identifiers_of(event, self.config)
        if idents:
            send_to.begin(f"{source['topic']}/{source['partition']}", source["offset"])
            for ident in idents:
                self.claims.send(out, ident, customer, "customer_id", event)
        return stays


@dataclass(slots=True)
class _Row:
    handle: Any
    row: Link | None
    dirty: bool = False
    forgotten: bool = False  # erased: written as a tombstone


class IdentityProcessor:
    """The identity agent's work on one batch of ``segue.identity`` records."""

    def __init__(
        self,
        names: TopicNames,
        sink: Outlet,
        partitions: int,
        config: IdentityConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.names = names
        self.sink = sink
        self.config = config
        self.send_to = Sender(names, sink, partitions)
        self.claims = Claims(self.send_to)
        self._handled = {op: IDENTITY_OPS.labels(op) for op in (ROUTE, PROBE, CLAIM, FORGET)}

    def apply(self, items: list[Any], store: RowStore) -> tuple[Batch, Callable[[], None]]:
        """Route the batch and produce its outputs; the returned ``finish()`` writes its rows
        (at once on the runtime, whose checkpoint orders what becomes durable).

        ``items``: :class:`~app.stream.journey_agent.Item` (value, partition, offset, handle)."""
        rows: dict[str, _Row] = {}
        out = self.sink.batch()
        send_to = self.send_to
        for item in items:
            value = item.value
            op = value["op"]
            origin, position = value["from"]
            mark = self._held(rows, store, item, f"{MARK_PREFIX}{item.partition}/{origin}")
            if mark.row is not None and position <= mark.row["pos"]:
                DUPLICATES.inc()
                continue  # sent again by a re-run batch upstream: done already
            mark.row = {"pos": position}
            mark.dirty = True
            self._handled[op].inc()
            send_to.begin(f"i{item.partition}", item.offset)
            try:
                if op == ROUTE:
                    self._route(out, rows, store, item, value["event"])
                elif op == PROBE:
                    self._probe(out, rows, store, item, value)
                elif op == CLAIM:
                    self._claim(out, rows, store, item, value)
                elif op == FORGET:
                    self._forget(out, rows, store, item, value)
            except Exception as exc:  # a bug of ours: the record to the DLQ, the partition goes on
                key = value.get("event", {}).get("key") or str(value.get("identifier", ""))
                dead_letter_value(
                    self.sink,
                    out,
                    self.names.dlq,
                    internal_error("identity", exc),
                    value,
                    key,
                    (self.names.identity, item.partition, item.offset),
                )

        def finish() -> None:
            for ident, held in rows.items():
                if held.dirty and (held.row is not None or held.forgotten):
                    store.put_row(held.handle, ident, held.row)

        return out, finish

    # -- the three records ---------------------------------------------------------------------

    def _route(
        self, out: Batch, rows: dict[str, _Row], store: RowStore, item: Any, event: dict[str, Any]
    ) -> None:
        event = hop(event, item.partition)
        ident = _ANON + event["anonymous_id"]
        row = self._owner(rows, store, item, ident)
        if row is not None:
            self._forward(out, event, row["c"])
            self._claim_rest(out, event, row["c"], ident, ident)
            return
        rest = [i for i in identifiers_of(event, self.config) if i != ident]
        if rest:
            probe = {"op": PROBE, "event": event, "rest": rest}
            self.send_to.identity(out, rest[0], probe)
            return
        self._forward(out, event, event["anonymous_id"])

    def _probe(
        self, out: Batch, rows: dict[str, _Row], store: RowStore, item: Any, value: dict[str, Any]
    ) -> None:
        event, rest = hop(value["event"], item.partition), value["rest"]
        ident = rest[0]
        row = self._owner(rows, store, item, ident)
        if row is not None:
            owner = row["c"]
            anonymous = _ANON + event["anonymous_id"]
            self.claims.send(out, anonymous, owner, ident, event, carry=event)
            self._claim_rest(out, event, owner, ident, anonymous)
        elif len(rest) > 1:
            probe = {"op": PROBE, "event": event, "rest": rest[1:]}
            self.send_to.identity(out, rest[1], probe)
        else:
            # Nobody owns any of its identifiers: the event stays under its anonymous id (if a
            # claim linked the id meanwhile, the tombstone there forwards it to the customer).
            self._forward(out, event, event["anonymous_id"])

    def _claim(
        self, out: Batch, rows: dict[str, _Row], store: RowStore, item: Any, value: dict[str, Any]
    ) -> None:
        ident, customer, event = value["identifier"], value["customer"], value["event"]
        held = self._held(rows, store, item, ident)
        row = held.row
        if row is not None and row.get("o", -1) > item.offset:
            row = None  # linked by a later claim: this one ran first (a batch re-run)
        result = apply_link(row, ident, customer, event, value["via"])
        if result.changed and result.row is not None:
            new = result.row
            if row is None:
                new = {**new, "o": item.offset}
            held.row = new
            held.dirty = True
        if result.conflict is not None:
            CONFLICTS.inc()
            self.sink.produce(
                out, self.names.identity_review, ident.encode(), orjson.dumps(result.conflict)
            )
        elif row is None:
            LINKS.inc()
            linked = {"op": LINKED, "key": customer, "identifier": ident}
            self.send_to.customer(out, customer, linked)
        if result.merge is not None:
            MERGES.inc()
            anonymous = result.merge[0]
            merge = {"op": MERGE_OUT, "key": anonymous, "into": customer, "at": event["ts"]}
            self.send_to.customer(out, anonymous, merge)
        carry = value.get("carry")
        if carry is not None:  # a probed event: it goes where its anonymous id now belongs
            owner = held.row["c"] if held.row is not None else customer
            self._forward(out, hop(carry, item.partition), owner)

    # -- helpers -------------------------------------------------------------------------------

    def _forget(
        self, out: Batch, rows: dict[str, _Row], store: RowStore, item: Any, value: dict[str, Any]
    ) -> None:
        """An erasure: the identifier's row goes if the erased customer still owns it (a row
        another customer owns now is theirs); a receipt goes to segue.audit either way."""
        held = self._held(rows, store, item, value["identifier"])
        deleted = held.row is not None and held.row.get("c") == value["customer"]
        if deleted:
            held.row, held.dirty, held.forgotten = None, True, True
        receipt = {
            "kind": "erasure",
            "request_id": value["request_id"],
            "store": "identity",
            "at": format_ms(int(self.clock() * 1000)),
            "rows_deleted": int(deleted),
        }
        self.sink.produce(out, self.names.audit, b"erasure", orjson.dumps(receipt))
        ERASURES.labels("identity").inc()

    @staticmethod
    def _held(rows: dict[str, _Row], store: RowStore, item: Any, ident: str) -> _Row:
        held = rows.get(ident)
        if held is None:
            held = rows[ident] = _Row(item.handle, store.get_row(item.handle, ident))
        return held

    def _owner(self, rows: dict[str, _Row], store: RowStore, item: Any, ident: str) -> Link | None:
        """The row as it was when this record was first processed (see the module doc)."""
        row = self._held(rows, store, item, ident).row
        if row is not None and row.get("o", -1) > item.offset:
            return None
        return row

    def _claim_rest(
        self, out: Batch, event: dict[str, Any], owner: str, via: str, skip: str
    ) -> None:
        """Rule 2: the event's other identifiers are linked to the owner it resolved to."""
        if not event["context"]:
            return
        for ident in identifiers_of(event, self.config):
            if ident != skip and ident != via:
                self.claims.send(out, ident, owner, via, event)

    def _forward(self, out: Batch, event: dict[str, Any], key: str) -> None:
        forwarded = dict(event)
        forwarded["key"] = key
        self.send_to.customer(out, key, forwarded)


def hop(event: dict[str, Any], partition: int) -> dict[str, Any]:
    """The event with ``partition`` added to its path (``source["via"]``)."""
    source = event.get("source")
    if not source:
        return event
    via = source.get("via")
    return {**event, "source": {**source, "via": f"{via}.{partition}" if via else str(partition)}}
