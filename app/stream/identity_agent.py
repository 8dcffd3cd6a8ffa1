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

Every record the agent forwards to customer-events carries as ``source`` the identity record's
(topic, partition, offset) (the input's broker timestamp kept for latency): the journey agent's
per-source-partition offset guard then drops what a crash made the agent forward twice.

Batches follow the journey agent's order: outputs are produced and awaited, then the rows are
written (a crash before that re-runs the batch on the old rows, with the same offsets). This
module knows no faust: rows are reached through :class:`RowStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from prometheus_client import Counter

from app.core.identity import ANONYMOUS, IdentityConfig, Link, apply_link, identifiers_of
from app.kafka_io import partition_for
from app.stream.sink import Batch, Sink
from app.topics.specs import TopicNames

ROUTE, PROBE, CLAIM = "route", "probe", "claim"
LINKED, MERGE_OUT, MERGE_IN = "linked", "merge-out", "merge-in"
#: (identifier, customer) claims remembered as already sent (a claim repeated changes nothing)
CLAIMS_REMEMBERED = 200_000

IDENTITY_OPS = Counter("segue_identity_records_total", "Identity records handled", ["op"])
LINKS = Counter("segue_identity_links_total", "Identifiers linked to a customer")
MERGES = Counter("segue_identity_merges_total", "Anonymous visitors merged into a customer")
CONFLICTS = Counter("segue_identity_conflicts_total", "Identity conflicts sent for review")

_ANON = ANONYMOUS + ":"


class RowStore(Protocol):
    def get_row(self, handle: Any, ident: str) -> Link | None: ...
    def put_row(self, handle: Any, ident: str, row: Link) -> None: ...


def brief(event: dict[str, Any]) -> dict[str, Any]:
    """What a claim keeps of its event (for the review record and the merge time)."""
    return {
        "event_id": event["event_id"],
        "type": event["type"],
        "timestamp": event["timestamp"],
        "ts": event["ts"],
    }


class Claims:
    """Sends claims, skipping those already sent by this process: a claim sent again finds the
    row as the first one left it (rows only gain an owner, never lose it), so it would change
    nothing. Forgetting (a restart, the bound) only costs a repeated, harmless claim."""

    def __init__(self, names: TopicNames, sink: Sink, partitions: int) -> None:
        self.names = names
        self.sink = sink
        self.partitions = partitions
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
        send_identity(self.sink, out, self.names, self.partitions, ident, value)


def send_identity(
    sink: Sink, out: Batch, names: TopicNames, partitions: int, ident: str, value: dict[str, Any]
) -> None:
    key = ident.encode()
    sink.produce(
        out,
        names.identity,
        key,
        orjson.dumps(value),
        partition=partition_for(key, partitions),
        internal=True,
    )


def send_customer(
    sink: Sink, out: Batch, names: TopicNames, partitions: int, key: str, value: dict[str, Any]
) -> None:
    kbytes = key.encode()
    sink.produce(
        out,
        names.customer_events,
        kbytes,
        orjson.dumps(value),
        partition=partition_for(kbytes, partitions),
        internal=True,
    )


class IngestRouter:
    """Ingest's side: where a validated event goes (see the module docstring)."""

    def __init__(
        self, names: TopicNames, sink: Sink, partitions: int, config: IdentityConfig
    ) -> None:
        self.names = names
        self.sink = sink
        self.partitions = partitions
        self.config = config
        self.claims = Claims(names, sink, partitions)

    def send(self, out: Batch, event: dict[str, Any]) -> None:
        customer = event["customer_id"]
        if customer is None:
            ident = _ANON + event["anonymous_id"]
            value = {"op": ROUTE, "event": event}
            send_identity(self.sink, out, self.names, self.partitions, ident, value)
            return
        send_customer(self.sink, out, self.names, self.partitions, customer, event)
        if event["anonymous_id"] is None and not event["context"]:
            return  # the common case: nothing to claim
        for ident in identifiers_of(event, self.config):
            self.claims.send(out, ident, customer, "customer_id", event)


@dataclass(slots=True)
class _Row:
    handle: Any
    row: Link | None
    dirty: bool = False


class IdentityProcessor:
    """The identity agent's work on one batch of ``segue.identity`` records."""

    def __init__(
        self, names: TopicNames, sink: Sink, partitions: int, config: IdentityConfig
    ) -> None:
        self.names = names
        self.sink = sink
        self.partitions = partitions
        self.config = config
        self.claims = Claims(names, sink, partitions)

    async def process(self, items: list[Any], store: RowStore) -> None:
        """``items``: :class:`~app.stream.journey_agent.Item` (value, partition, offset, handle)."""
        rows: dict[str, _Row] = {}
        out = self.sink.batch()
        for item in items:
            value = item.value
            op = value["op"]
            IDENTITY_OPS.labels(op).inc()
            source = {"topic": self.names.identity, "partition": item.partition}
            source["offset"] = item.offset
            if op == ROUTE:
                self._route(out, rows, store, item, value, source)
            elif op == PROBE:
                self._probe(out, rows, store, item, value, source)
            elif op == CLAIM:
                self._claim(out, rows, store, item, value, source)
        if out.left:
            await self.sink.deliver(out)
        for ident, held in rows.items():
            if held.dirty and held.row is not None:
                store.put_row(held.handle, ident, held.row)

    # -- the three records ---------------------------------------------------------------------

    def _route(
        self,
        out: Batch,
        rows: dict[str, _Row],
        store: RowStore,
        item: Any,
        value: dict[str, Any],
        source: dict[str, Any],
    ) -> None:
        event = value["event"]
        ident = _ANON + event["anonymous_id"]
        row = self._row(rows, store, item, ident).row
        if row is not None:
            self._forward(out, event, row["c"], source)
            self._claim_rest(out, event, row["c"], ident, ident)
            return
        rest = [i for i in identifiers_of(event, self.config) if i != ident]
        if rest:
            probe = {"op": PROBE, "event": event, "rest": rest}
            send_identity(self.sink, out, self.names, self.partitions, rest[0], probe)
            return
        self._forward(out, event, event["anonymous_id"], source)

    def _probe(
        self,
        out: Batch,
        rows: dict[str, _Row],
        store: RowStore,
        item: Any,
        value: dict[str, Any],
        source: dict[str, Any],
    ) -> None:
        event, rest = value["event"], value["rest"]
        ident = rest[0]
        row = self._row(rows, store, item, ident).row
        if row is not None:
            owner = row["c"]
            anonymous = _ANON + event["anonymous_id"]
            self.claims.send(out, anonymous, owner, ident, event, carry=event)
            self._claim_rest(out, event, owner, ident, anonymous)
        elif len(rest) > 1:
            probe = {"op": PROBE, "event": event, "rest": rest[1:]}
            send_identity(self.sink, out, self.names, self.partitions, rest[1], probe)
        else:
            # Nobody owns any of its identifiers: the event stays under its anonymous id (if a
            # claim linked the id meanwhile, the tombstone there forwards it to the customer).
            self._forward(out, event, event["anonymous_id"], source)

    def _claim(
        self,
        out: Batch,
        rows: dict[str, _Row],
        store: RowStore,
        item: Any,
        value: dict[str, Any],
        source: dict[str, Any],
    ) -> None:
        ident, customer, event = value["identifier"], value["customer"], value["event"]
        held = self._row(rows, store, item, ident)
        was_owned = held.row is not None
        result = apply_link(held.row, ident, customer, event, value["via"])
        if result.changed:
            held.row = result.row
            held.dirty = True
        if result.conflict is not None:
            CONFLICTS.inc()
            self.sink.produce(
                out, self.names.identity_review, ident.encode(), orjson.dumps(result.conflict)
            )
        elif not was_owned:
            LINKS.inc()
            linked = {"op": LINKED, "key": customer, "identifier": ident, "source": source}
            send_customer(self.sink, out, self.names, self.partitions, customer, linked)
        if result.merge is not None:
            MERGES.inc()
            anonymous = result.merge[0]
            merge = {
                "op": MERGE_OUT,
                "key": anonymous,
                "into": customer,
                "at": event["ts"],
                "source": source,
            }
            send_customer(self.sink, out, self.names, self.partitions, anonymous, merge)
        carry = value.get("carry")
        if carry is not None:  # a probed event: it goes where its anonymous id now belongs
            owner = held.row["c"] if held.row is not None else customer
            self._forward(out, carry, owner, source)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _row(rows: dict[str, _Row], store: RowStore, item: Any, ident: str) -> _Row:
        held = rows.get(ident)
        if held is None:
            held = rows[ident] = _Row(item.handle, store.get_row(item.handle, ident))
        return held

    def _claim_rest(
        self, out: Batch, event: dict[str, Any], owner: str, via: str, skip: str
    ) -> None:
        """Rule 2: the event's other identifiers are linked to the owner it resolved to."""
        if not event["context"]:
            return
        for ident in identifiers_of(event, self.config):
            if ident != skip and ident != via:
                self.claims.send(out, ident, owner, via, event)

    def _forward(self, out: Batch, event: dict[str, Any], key: str, source: dict[str, Any]) -> None:
        forwarded = dict(event)
        forwarded["key"] = key
        original = event.get("source") or {}
        forwarded["source"] = {**source, "timestamp": original.get("timestamp")}
        send_customer(self.sink, out, self.names, self.partitions, key, forwarded)
