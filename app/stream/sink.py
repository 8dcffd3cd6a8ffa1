"""What the processors produce through: an :class:`Outlet`, one :class:`Batch` per handled batch.

On the runtime the outlet is ``RuntimeSink`` (app/worker/journeys.py): records go to the
runtime's producer and the checkpoint awaits their delivery before anything of the batch becomes
durable (app/runtime/checkpoint.py). Tests use in-memory outlets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

OnDelivered = Callable[[int], None]  # called with the delivery time, epoch ms
Headers = list[tuple[str, str | bytes | None]]  # Kafka record headers, in order (confluent-kafka's)


class Batch:
    """The records one handled batch produced: how many are not yet acknowledged, and errors."""

    __slots__ = ("errors", "left")

    def __init__(self) -> None:
        self.left = 0
        self.errors: list[str] = []


class Outlet(Protocol):
    """Where the processors' records go. ``internal``: a record for the worker's own topics
    (customer-events, identity), which only Segue's agents read."""

    def batch(self) -> Batch: ...

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        internal: bool = False,
        headers: Headers | None = None,
    ) -> None: ...
