"""Event-to-action latency of one worker at a steady rate, trees side by side on one broker.

    .venv/bin/python bench/latency_probe.py [--rate 5000] [--seconds 15] [--rounds 2]
        [--trees . /tmp/base]

Starts an embedded Apache Kafka, then per round and per tree (alternating, the machine is
noisy): a fresh prefix of topics, one ``segue worker --processes 1`` run from that tree, a
warm-up, then the live_latency mix stamped with the wall clock at ``--rate`` events/s for
``--seconds``. Latency is each action's broker timestamp (the worker's produce call) minus the
input event's (``source_timestamp``), as bench/live_latency.py measures it; beside it the
worker's CPU per event and its checkpoint pauses (``segue_runtime_checkpoint_seconds``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import live_latency  # noqa: E402
from live_latency import Env, Worker, latencies, produce_at  # noqa: E402

from app.broker.embedded import KafkaBroker, free_port  # noqa: E402


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checkpoint_pauses(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    values = {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("segue_runtime_checkpoint_seconds_")
    }
    count = values.get("segue_runtime_checkpoint_seconds_count", 0.0)
    total = values.get("segue_runtime_checkpoint_seconds_sum", 0.0)
    over = count - values.get('segue_runtime_checkpoint_seconds_bucket{le="0.05"}', count)
    return f"{count:.0f} checkpoints, mean pause {1000 * total / max(count, 1):.0f} ms, {over:.0f} over 50 ms"


def one(tree: Path, bootstrap: str, tmp: Path, rate: int, seconds: float) -> str:
    live_latency.ROOT = tree  # the worker runs from this tree (``python -m app``)
    env = Env(bootstrap, tmp, profile="kafka")
    worker = Worker(env)
    try:
        worker.wait("segue_events_in_total", 0)
        warm = produce_at(env, 200, 3, first=0)
        worker.wait("segue_profile_updates_total", warm)
        since = int(time.time() * 1000)
        cpu0 = cpu_s(worker.proc.pid)
        sent = produce_at(env, rate, seconds, first=warm)
        worker.wait("segue_profile_updates_total", warm + sent)
        cpu = cpu_s(worker.proc.pid) - cpu0
        pauses = checkpoint_pauses(worker.port)
        time.sleep(1)
        hist = latencies(env, since)
    finally:
        worker.stop()
    return (
        f"p50 {hist.get_value_at_percentile(50)} ms, p99 {hist.get_value_at_percentile(99)} ms, "
        f"p99.9 {hist.get_value_at_percentile(99.9)} ms, max {hist.get_max_value()} ms "
        f"({hist.get_total_count():,} actions); worker CPU {cpu / sent * 1e6:.0f} us/event; "
        f"{pauses}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trees", type=Path, nargs="+", default=[ROOT])
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    with tempfile.TemporaryDirectory(prefix="segue-latency-") as name:
        tmp = Path(name)
        broker = KafkaBroker("127.0.0.1", free_port(), tmp / "broker")
        broker.start()
        try:
            print(f"# {args.rate:,} events/s for {args.seconds:g} s, one worker process")
            for round_ in range(args.rounds):
                for i, tree in enumerate(trees):
                    result = one(
                        tree, broker.bootstrap, tmp / f"{round_}-{i}", args.rate, args.seconds
                    )
                    print(f"{tree}: {result}", flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
