"""Where the worker's time goes: py-spy on a real `segue worker` under the bench's Segue load.

    .venv/bin/python bench/profile_worker.py [--events 30000] [--out /tmp/segue-profile]

Preloads simulated events (as ``make bench``'s throughput phase: ``run_bench.bench_events``) on a
fresh embedded broker, starts ``py-spy record -- python -m app worker`` and lets the worker
process them all, then stops it and prints the top functions by own time (the leaf frame:
where the CPU actually is) and by inclusive time, as % of the worker's sampled Python stacks
(idle threads excluded). The raw collapsed stacks are kept in ``--out`` for a flame graph.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run_bench import bench_events, make_producer, produce_all, segue_processed  # noqa: E402

from app.broker.embedded import KafkaBroker, TansuBroker, free_port  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402


class _Metrics:
    """What run_bench.segue_processed needs: a metrics port."""

    def __init__(self, port: int) -> None:
        self.metrics_ports = [port]


def frame_name(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'function (file.py)' (lines merged)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(Path(path).parts[-2:]) if path else "?"
    return f"{name} ({short})"


def summarize(raw: Path, top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")[1:]]  # [0] is the thread
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    lines = [f"{total:,} samples (Python stacks of the worker's busy threads)", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=tempfile.gettempdir() + "/segue-profile")
    parser.add_argument("--broker", choices=["kafka", "tansu"], default="kafka")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="segue-prof-"))
    kinds = {"kafka": KafkaBroker, "tansu": TansuBroker}
    broker: Any = kinds[args.broker]("127.0.0.1", free_port(), tmp)
    broker.start()
    spy = None
    try:
        prefix = "prof."
        settings = Settings(
            bootstrap_servers=broker.bootstrap, broker_profile=args.broker, topic_prefix=prefix
        )
        apply_topics(settings)
        events = bench_events(args.events, max(args.events // 20, 100))
        producer = make_producer(broker.bootstrap)
        produce_all(producer, TopicNames(settings).events, events)
        port = free_port()
        env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SEGUE_BROKER_PROFILE": args.broker,
            "SEGUE_TOPIC_PREFIX": prefix,
            "SEGUE_STATE_DIR": str(tmp / "state"),
            "SEGUE_METRICS_PORT": str(port),
            "SEGUE_LOG_LEVEL": "warning",
        }
        raw = out / "worker.raw"
        spy_bin = Path(sys.executable).parent / "py-spy"
        with (out / "py-spy.log").open("wb") as fh:
            spy = subprocess.Popen(
                [str(spy_bin), "record", "--format", "raw", "--rate", str(args.rate), "-o",
                 str(raw), "--", sys.executable, "-m", "app", "worker", "--processes", "1"],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
            )  # fmt: skip
        began = time.monotonic()
        metrics = _Metrics(port)
        while segue_processed(metrics) < len(events):  # type: ignore[arg-type]
            if spy.poll() is not None:
                raise SystemExit(f"py-spy exited: {(out / 'py-spy.log').read_text()[-2000:]}")
            if time.monotonic() - began > 1800:
                raise SystemExit("not all events processed within 30 minutes")
            time.sleep(0.2)
        took = time.monotonic() - began
        # stop the worker (py-spy's child); py-spy then writes its file and exits
        children = Path(f"/proc/{spy.pid}/task/{spy.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        spy.wait(120)
        print(f"{len(events):,} events processed {took:.1f} s after the worker started")
        print(summarize(raw, args.top))
        print(f"\nraw stacks: {raw}")
    finally:
        if spy is not None and spy.poll() is None:
            spy.terminate()
            spy.wait(30)
        broker.stop()


if __name__ == "__main__":
    main()
