"""Two versions of `segue worker` side by side on one broker: throughput and CPU per event.

    .venv/bin/python bench/compare_worker.py --base /path/to/other/tree [--events 100000]
        [--rounds 3] [--processes 1]

The machines are noisy, so a change on the worker's hot path is judged by a ratio measured in
one run: the same preloaded simulated events (run_bench.bench_events) through this tree's
worker and through the worker of another checkout (``git worktree add /tmp/base HEAD``),
alternating, each on fresh topics of one embedded Kafka. Prints events/s (first event
processed to last, from the worker's metrics) and the worker's CPU per event per round, then
the medians and their ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run_bench import (  # noqa: E402
    Proc,
    bench_events,
    make_producer,
    produce_all,
    segue_processed,
    start_broker,
)

from app.broker.embedded import free_port  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402


def run_once(
    tree: Path, bootstrap: str, events: list[dict], tmp: Path, processes: int
) -> tuple[float, float]:
    prefix = f"c{uuid.uuid4().hex[:6]}."
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    apply_topics(settings)
    produce_all(make_producer(bootstrap), TopicNames(settings).events, events)
    env = {
        **os.environ,
        "SEGUE_BOOTSTRAP_SERVERS": bootstrap,
        "SEGUE_TOPIC_PREFIX": prefix,
        "SEGUE_STATE_DIR": str(tmp / prefix),
        "SEGUE_METRICS_PORT": str(free_port()),
        "SEGUE_LOG_LEVEL": "warning",
    }
    args = [sys.executable, "-m", "app", "worker", "--processes", str(processes)]
    # run from ``tree``: ``python -m app`` imports the app package of its working folder
    proc = Proc(args, env, tmp / f"{prefix}log", processes, cwd=tree)
    first_at = first_n = 0.0
    done = 0.0
    deadline = time.monotonic() + 600
    cpu0 = 0.0
    while time.monotonic() < deadline and proc.popen.poll() is None:
        done = segue_processed(proc)
        if done and not first_at:
            first_at, first_n, cpu0 = time.monotonic(), done, proc.cpu_s()
        if done >= len(events):
            break
        time.sleep(0.1)
    last_at = time.monotonic()
    cpu = proc.cpu_s() - cpu0
    why = proc.ended()
    proc.stop()
    if why is not None or done < len(events):
        raise SystemExit(f"{tree}: the worker did not finish ({done:,.0f} events): {why}")
    n = done - first_n
    return n / max(last_at - first_at, 1e-9), cpu / max(n, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "this": ROOT}
    events = bench_events(args.events, max(args.events // 20, 100))
    tmp = Path(tempfile.mkdtemp(prefix="segue-compare-"))
    broker = start_broker("kafka", tmp)
    broker.start()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    try:
        for i in range(args.rounds):
            for name, tree in trees.items():
                rate, us = run_once(tree, broker.bootstrap, events, tmp, args.processes)
                results[name].append((rate, us))
                print(f"round {i + 1} {name:4}: {rate:9,.0f} events/s  {us:6.1f} us CPU/event")
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {
        n: (statistics.median(r for r, _ in v), statistics.median(u for _, u in v))
        for n, v in results.items()
    }
    for name, (rate, us) in med.items():
        print(f"median {name:4}: {rate:9,.0f} events/s  {us:6.1f} us CPU/event")
    print(
        f"this/base: throughput {med['this'][0] / med['base'][0]:.2f}x, "
        f"CPU per event {med['this'][1] / med['base'][1]:.2f}x"
    )


if __name__ == "__main__":
    main()
