"""The ``identity`` agent on the runtime: ``segue.identity`` records through the
IdentityProcessor (app/stream/identity_agent.py), its rows in the ``identity`` store.

``finish()`` runs at once after ``apply``: what the batch changed becomes durable only at the
checkpoint, after its outputs are on the broker (app/runtime/checkpoint.py)."""

from __future__ import annotations

from typing import Any

import orjson

from app.core.identity import Link
from app.runtime.agent import Agent, PartitionBatch
from app.runtime.store import PartitionStore
from app.stream.identity_agent import IdentityProcessor
from app.stream.journey_agent import Item

AGENT = "identity"
ROWS = "identity"


class PartitionRows:
    """The processor's RowStore: an Item's handle is its partition's ``identity`` store."""

    def get_row(self, handle: PartitionStore, ident: str) -> Link | None:
        row: Link | None = handle.get(ident)
        return row

    def put_row(self, handle: PartitionStore, ident: str, row: Link | None) -> None:
        handle.put(ident, row)


def identity_agent(processor: IdentityProcessor, topic: str) -> Agent:
    rows = PartitionRows()

    def handle(batch: PartitionBatch) -> None:
        store = batch.stores[ROWS]
        records: list[Any] = batch.records  # consumed records: value and offset are there
        items = [Item(orjson.loads(m.value()), batch.partition, m.offset(), store) for m in records]
        _out, finish = processor.apply(items, rows)
        finish()

    return Agent(AGENT, (topic,), handle, stores=(ROWS,))
