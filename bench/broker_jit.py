"""The embedded Kafka's JIT, side by side in one run: C1 only (what Segue starts) against the
JVM's default tiered compilation (C1 then C2), each on a freshly started broker.

For each setting: a fresh broker, then three rounds of the limit pipeline (bench/pipelines/
limit.py) at 1,000 events/s for 5 s, each on new topics with a new consumer group; the
event-to-output latency of each round, the limit's sustained throughput on 100,000 preloaded
events after them (twice), and the broker's CPU seconds over the whole.

    .venv/bin/python bench/broker_jit.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run_bench as rb  # noqa: E402

from app.broker.embedded import KafkaBroker, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTINGS = {"C1 only (-XX:TieredStopAtLevel=1)": None, "tiered C1+C2 (JVM default)": []}


def broker_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def latency_round(bootstrap: str, tmp: Path, events: list[dict]) -> str:
    proc, outputs, source = rb.start_limit(bootstrap, "kafka", tmp)
    producer = rb.make_producer(bootstrap)
    observer = rb.Observer(bootstrap, outputs, rb.forwarded_ms, from_beginning=False)
    observer.start()
    while observer.count == 0 and proc.popen.poll() is None:
        rb.produce_paced(producer, source, events[:10], 100, 0.1)
        time.sleep(0.5)
    observer.hist = HdrHistogram(1, 600_000, 3)
    observer.measure_from_ms = rb.now_ms()
    rb.produce_paced(producer, source, events, 1000, 5.0)
    time.sleep(2)
    observer.running = False
    proc.stop()
    h = observer.hist
    return (
        f"p50 {h.get_value_at_percentile(50)} ms, p99 {h.get_value_at_percentile(99)} ms, "
        f"p99.9 {h.get_value_at_percentile(99.9)} ms"
    )


def main() -> None:
    events = rb.bench_events(10_000, 500)
    preloaded = rb.bench_events(100_000, 5_000)
    print("# .venv/bin/python bench/broker_jit.py: limit at 1,000 events/s, 3 rounds per broker")
    for label, jit in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="segue-jit-") as name:
            tmp = Path(name)
            broker = KafkaBroker(
                "127.0.0.1", free_port(), tmp, controller_port=free_port(), jit_opts=jit
            )
            began = time.monotonic()
            pid = broker.start()
            print(f"## {label}: started in {time.monotonic() - began:.1f} s", flush=True)
            try:
                for round_no in range(1, 4):
                    print(f"  round {round_no}: {latency_round(broker.bootstrap, tmp, events)}")
                for _ in range(2):
                    rb.run_pipeline(
                        rb.PIPELINES[0], broker.bootstrap, "kafka", tmp, preloaded, [], 0, 0, print
                    )
                print(f"  broker CPU over the whole: {broker_cpu_s(pid):.1f} s", flush=True)
            finally:
                broker.stop()


if __name__ == "__main__":
    main()
