"""What the embedded brokers cost to start, stop and keep running, on this machine.

For each kind: a first start on an empty state folder (Kafka formats its KRaft log there), a
start on the folder the first one left (what `segue broker start` costs afterwards), the stop,
and the broker's resident memory idle and after 16 topics (the declared set) were created.

    .venv/bin/python bench/broker_cost.py [--runs 3] [--kind kafka|tansu|both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.broker.embedded import KafkaBroker, TansuBroker, free_port  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(action: Callable[[], object]) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began


def measure(kind: str, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "first start s": [],
        "restart s": [],
        "stop s": [],
        "RSS idle MB": [],
        "RSS 16 topics MB": [],
    }
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix=f"segue-broker-{kind}-") as tmp:
            port = free_port()
            broker: KafkaBroker | TansuBroker = (
                KafkaBroker("127.0.0.1", port, Path(tmp), controller_port=free_port())
                if kind == "kafka"
                else TansuBroker("127.0.0.1", port, Path(tmp))
            )
            figures["first start s"].append(timed(broker.start))
            pid = broker.pid()
            assert pid is not None
            figures["RSS idle MB"].append(rss_mb(pid))
            apply_topics(Settings(bootstrap_servers=broker.bootstrap, broker_profile=kind))
            figures["RSS 16 topics MB"].append(rss_mb(pid))
            figures["stop s"].append(timed(broker.stop))
            figures["restart s"].append(timed(broker.start))
            broker.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kind", choices=["kafka", "tansu", "both"], default="both")
    args = parser.parse_args()
    kinds = ["kafka", "tansu"] if args.kind == "both" else [args.kind]
    print(f"# bench/broker_cost.py --runs {args.runs}: median (min-max) of {args.runs} runs")
    for kind in kinds:
        for name, values in measure(kind, args.runs).items():
            print(
                f"{kind:5} {name:17} {statistics.median(values):7.1f} "
                f"({min(values):.1f}-{max(values):.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
