"""Fault points for the fault tests, read from the environment once; unset, each costs one
dictionary lookup or one ``is None`` test.

``SEGUE_CRASH_AT=<point>:<n>`` ends the process (no cleanup, like SIGKILL) the n-th time it
passes ``<point>``. The points are named where they are passed (checkpoint.py).

``SEGUE_HOLD_PARTITION=<topic>:<partition>`` stops fetching that input partition from the
moment it is assigned (librdkafka's pause, which nothing else in the runtime knows of: to the
rest of the process it is a fetcher that stopped, the stall the lag monitor must report), until
the file named by ``SEGUE_HOLD_UNTIL`` exists (looked for once per turn of the loop).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

_spec = os.environ.get("SEGUE_CRASH_AT", "")
_point, _, _count = _spec.partition(":")
_left = {_point: int(_count or "1")} if _point else {}


def crash_point(name: str) -> None:
    left = _left.get(name)
    if left is None:
        return
    if left <= 1:
        os._exit(137)  # what a SIGKILL'd process reports
    _left[name] = left - 1


@dataclass(slots=True)
class Hold:
    """One input partition not fetched until a file exists."""

    topic: str
    partition: int
    until: Path | None
    held: bool = False
    released: bool = False  # once: a later assignment is not held again

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.released or not any(
            tp.topic == self.topic and tp.partition == self.partition for tp in partitions
        ):
            return
        # a pause needs the assignment in place; assigned here, confluent-kafka does not
        # assign again after the callback
        consumer.assign(partitions)
        consumer.pause([TopicPartition(self.topic, self.partition)])
        self.held = True

    def release_if_due(self, consumer: Consumer) -> None:
        if self.held and self.until is not None and self.until.exists():
            consumer.resume([TopicPartition(self.topic, self.partition)])
            self.held = False
            self.released = True


def hold_from_env() -> Hold | None:
    spec = os.environ.get("SEGUE_HOLD_PARTITION", "")
    if not spec:
        return None
    topic, _, partition = spec.rpartition(":")
    until = os.environ.get("SEGUE_HOLD_UNTIL")
    return Hold(topic, int(partition), Path(until) if until else None)
