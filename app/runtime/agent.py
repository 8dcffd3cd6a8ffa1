"""An agent: a stable name, the topics it reads, the stores it owns, and its batch handler.

The name is the agent's identity across restarts and deployments: its store folders
(``<state>/<agent>/<store>/<partition>``) and changelog topics (``{app_id}-{agent}-{store}-
changelog``) derive from it, so renaming an agent starts it from empty state. The handler gets
one partition's records at a time, in offset order, with that partition's stores; it writes
state through the stores and outputs through ``out`` and never commits anything itself (the
checkpoint does, checkpoint.py). An agent with ``on_due`` schedules keys through
``batch.timers`` and is called when their time comes (timers.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Message

from app.runtime.store import PartitionStore
from app.runtime.timers import DUE_STORE, PartitionTimers

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Output(Protocol):
    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None: ...


@dataclass(slots=True)
class PartitionBatch:
    """What a handler gets: one partition's records (possibly of several of the agent's
    co-partitioned topics, in the order they were consumed) and that partition's stores."""

    partition: int
    records: list[Message]
    stores: dict[str, PartitionStore]
    out: Output
    #: the partition's schedule, for an agent with ``on_due`` (timers.py)
    timers: PartitionTimers | None = None


@dataclass(slots=True)
class DueBatch:
    """What an ``on_due`` handler gets: the keys due at the partition's time ``now``; it
    schedules each key's next time, if any, through ``timers``."""

    partition: int
    now: int
    keys: list[tuple[str, int]]  # (key, due), earliest first
    stores: dict[str, PartitionStore]
    out: Output
    timers: PartitionTimers


Handler = Callable[[PartitionBatch], None]
DueHandler = Callable[[DueBatch], None]


@dataclass(frozen=True)
class Agent:
    name: str
    topics: tuple[str, ...]
    handle: Handler
    stores: tuple[str, ...] = field(default=())
    #: called with the keys whose scheduled time came (timers.py); None: the agent has no timers
    on_due: DueHandler | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"agent name {self.name!r}: use lower-case letters, digits, '-' or '_' "
                "(it names the agent's store folders and changelog topics)"
            )
        for store in self.stores:
            if not _NAME.match(store):
                raise ValueError(f"store name {store!r} of agent {self.name!r}: same rule")
            if store == DUE_STORE:
                raise ValueError(f"store name {store!r} of agent {self.name!r} is the runtime's")
        if not self.topics:
            raise ValueError(f"agent {self.name!r} reads no topic")
