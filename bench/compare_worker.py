"""Two versions of `segue worker` side by side on one broker: throughput and CPU per event.

    .venv/bin/python bench/compare_worker.py --base /path/to/other/tree [--events 100000]
        [--rounds 3] [--processes 1]

The machines are noisy, so a change on the worker's hot path is judged by a ratio measured in
one run: the same preloaded simulated events (run_bench.bench_events) through this tree's
worker and through the worker of another checkout (``git worktree add /tmp/base HEAD``),
alternating, each on fresh topics of one embedded Kafka. Prints per round the events/s and
the CPU per event of the worker and of the broker, both over the steady middle of the run
(from 10% to 90% of the events processed, read from the worker's metrics and /proc), then the
medians and their ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run_bench import (  # noqa: E402
    CLK_TCK,
    bench_events,
    make_producer,
    produce_all,
    segue_processed,
    start_broker,
    start_segue,
)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_once(
    tree: Path, bootstrap: str, broker_pid: int, events: list[dict], tmp: Path, processes: int
) -> tuple[float, float, float]:
    """(events/s, worker CPU us per event, broker CPU us per event) over 10%..90% of the run."""
    # run from ``tree``: ``python -m app`` imports the app package of its working folder
    proc, _outputs, source = start_segue(bootstrap, "kafka", tmp, processes, cwd=tree)
    produce_all(make_producer(bootstrap), source, events)
    marks: list[tuple[float, float, float, float]] = []  # (time, done, worker CPU, broker CPU)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.popen.poll() is None and len(marks) < 2:
        done = segue_processed(proc)
        if done >= (0.1, 0.9)[len(marks)] * len(events):
            marks.append((time.monotonic(), done, proc.cpu_s(), cpu_s(broker_pid)))
        time.sleep(0.05)
    why = proc.ended()
    proc.stop()
    if len(marks) < 2:
        raise SystemExit(f"{tree}: the worker did not finish: {why}")
    (t0, n0, w0, b0), (t1, n1, w1, b1) = marks
    n = n1 - n0
    return n / (t1 - t0), (w1 - w0) / n * 1e6, (b1 - b0) / n * 1e6


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
    broker_pid = broker.pid()
    assert broker_pid is not None
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    try:
        for i in range(args.rounds):
            for name, tree in trees.items():
                got = run_once(tree, broker.bootstrap, broker_pid, events, tmp, args.processes)
                results[name].append(got)
                print(
                    f"round {i + 1} {name:4}: {got[0]:9,.0f} events/s, CPU per event: "
                    f"worker {got[1]:5.0f} us, broker {got[2]:5.0f} us",
                    flush=True,
                )
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {
        name: tuple(statistics.median(r[k] for r in rounds) for k in range(3))
        for name, rounds in results.items()
    }
    for name, (rate, worker, broker_us) in med.items():
        print(
            f"median {name:4}: {rate:9,.0f} events/s, CPU per event: worker {worker:5.0f} us, "
            f"broker {broker_us:5.0f} us"
        )
    print(
        f"this/base: throughput {med['this'][0] / med['base'][0]:.2f}x, worker CPU per event "
        f"{med['this'][1] / med['base'][1]:.2f}x, broker CPU per event "
        f"{med['this'][2] / med['base'][2]:.2f}x"
    )


if __name__ == "__main__":
    main()
