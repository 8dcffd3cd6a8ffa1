"""A small agent on the runtime, run as its own process by test_runtime.py.

``counter`` (default): per key, how many records it has seen and the last offset applied (the guard that
makes a record seen again after a crash count once); one output record per input record, its
value naming the input (topic/partition/offset). Stops cleanly on SIGTERM.

``--reminder``: a cart reminder on the runtime's timers: a ``cart`` event schedules its key 30
minutes after the event's time, a ``purchase`` cancels it, a due key produces ``reminder:<key>``.

    python -m tests.integration.runtime_counter IN OUT STATE_DIR GROUP [--exactly-once]
                                                                       [--reminder]
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import orjson

from app.runtime.agent import Agent, DueBatch, PartitionBatch
from app.runtime.loop import Runtime
from app.settings import Settings


def counter(out_topic: str):  # type: ignore[no-untyped-def]
    def handle(batch: PartitionBatch) -> None:
        counts = batch.stores["counts"]
        for message in batch.records:
            key = message.key().decode()
            state = counts.get(key) or {"n": 0, "last": -1}
            if message.offset() <= state["last"]:
                continue
            state["n"] += 1
            state["last"] = message.offset()
            counts.put(key, state)
            ident = f"{message.topic()}/{message.partition()}/{message.offset()}"
            batch.out.produce(out_topic, message.key(), ident.encode())

    return handle


REMIND_AFTER_MS = 30 * 60 * 1000


def reminder(in_topic: str, out_topic: str) -> Agent:
    def handle(batch: PartitionBatch) -> None:
        timers = batch.timers
        assert timers is not None
        for message in batch.records:
            event = orjson.loads(message.value())
            timers.saw(event["ts"])
            key = message.key().decode()
            if event["type"] == "cart":
                timers.schedule(key, event["ts"] + REMIND_AFTER_MS)
            elif event["type"] == "purchase":
                timers.schedule(key, None)

    def on_due(due: DueBatch) -> None:
        for key, _at in due.keys:
            due.out.produce(out_topic, key.encode(), f"reminder:{key}".encode())

    return Agent("reminder", (in_topic,), handle, on_due=on_due)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    in_topic, out_topic, state_dir, group = argv[:4]
    exactly_once = "--exactly-once" in argv
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    if "--reminder" in argv:
        agent = reminder(in_topic, out_topic)
    else:
        agent = Agent("counter", (in_topic,), counter(out_topic), stores=("counts",))
    runtime = Runtime(
        Settings(),
        [agent],
        Path(state_dir),
        group,
        # a checkpoint after every batch of at most 50 (5 for the reminder, so that its carts
        # and purchases are read in different batches): many points for the crash tests to hit
        commit_interval_s=0.0,
        batch_max=5 if "--reminder" in argv else 50,
        # static membership: the restart after a crash takes the partitions over at once
        # instead of waiting for the crashed member's session (45 s) to expire
        instance_id=f"{group}-counter",
        exactly_once=exactly_once,
        transactional_id=f"{group}-counter",
    )
    print("started", flush=True)
    runtime.run(lambda: bool(stopping))
    print("stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
