"""The runtime: Segue's own agent runtime (app/runtime/) on a trivial stateful job: per customer
key, a count in a store (changelogged, checkpointed every second), and each event produced
again. What the worker's shell will cost once it runs on the runtime, before any journey logic.

    python bench/pipelines/runtime.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP DATA_DIR [PROFILE]

The changelog topic ({app_id}-forward-counts-changelog, prefixed by GROUP) must exist.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.runtime.agent import Agent, PartitionBatch
from app.runtime.loop import Runtime
from app.settings import Settings


def main() -> None:
    bootstrap, source, target, group, data_dir = sys.argv[1:6]
    profile = sys.argv[6] if len(sys.argv) > 6 else "kafka"
    settings = Settings(
        bootstrap_servers=bootstrap, broker_profile=profile, topic_prefix=f"{group}."
    )

    def forward(batch: PartitionBatch) -> None:
        counts = batch.stores["counts"]
        produce = batch.out.produce
        for message in batch.records:
            event = orjson.loads(message.value())
            key = message.key()
            skey = key.decode()
            counts.put(skey, (counts.get(skey) or 0) + 1)
            produce(target, key, orjson.dumps(event))

    agent = Agent("forward", (source,), forward, stores=("counts",))
    runtime = Runtime(settings, [agent], Path(data_dir), group)
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    runtime.run(lambda: bool(stopping))


if __name__ == "__main__":
    main()
