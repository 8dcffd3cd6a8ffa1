"""A small agent on the runtime, run as its own process by test_runtime.py.

``counter``: per key, how many records it has seen and the last offset applied (the guard that
makes a record seen again after a crash count once); one output record per input record, its
value naming the input (topic/partition/offset). Stops cleanly on SIGTERM.

    python -m tests.integration.runtime_counter IN OUT STATE_DIR GROUP [--exactly-once]
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from app.runtime.agent import Agent, PartitionBatch
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


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    in_topic, out_topic, state_dir, group = argv[:4]
    exactly_once = "--exactly-once" in argv
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    agent = Agent("counter", (in_topic,), counter(out_topic), stores=("counts",))
    runtime = Runtime(
        Settings(),
        [agent],
        Path(state_dir),
        group,
        # a checkpoint after every batch of at most 50: many points for the crash tests to hit
        commit_interval_s=0.0,
        batch_max=50,
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
