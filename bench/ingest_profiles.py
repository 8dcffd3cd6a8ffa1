"""Throughput of ingest + profiles on the embedded broker (issue 2's figure).

Preloads N simulated events on a fresh embedded broker, starts one worker, and measures the time
from its first folded event to its last (worker start-up and group join excluded).

    .venv/bin/python bench/ingest_profiles.py [--events 20000] [--customers 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.broker.embedded import TansuBroker, free_port  # noqa: E402
from app.publish import publish  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.sim import planned_count, simulate  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=5_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="segue-bench-"))
    broker = TansuBroker("127.0.0.1", free_port(), tmp)
    broker.start()
    worker = None
    try:
        settings = Settings(
            bootstrap_servers=broker.bootstrap, broker_profile="tansu", state_dir=tmp / "state"
        )
        apply_topics(settings)
        rate = args.events / 3600  # an hour of simulated traffic, sent at full speed
        records = simulate(7, rate, 3600, 1_795_420_800_000, args.customers)
        began = time.monotonic()
        stats = publish(settings, records, TopicNames(settings).events)
        print(
            f"preloaded {stats.sent:,} events (planned {planned_count(rate, 3600):,}) in "
            f"{time.monotonic() - began:.1f} s",
            flush=True,
        )
        port = free_port()
        env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SEGUE_BROKER_PROFILE": "tansu",
            "SEGUE_STATE_DIR": str(tmp / "state"),
            "SEGUE_METRICS_PORT": str(port),
            "SEGUE_LOG_LEVEL": "warning",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--processes", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first = None
        while True:
            folded = metric(port, "segue_profile_updates_total")
            now = time.monotonic()
            if folded > 0 and first is None:
                first = (now, folded)
            if folded >= stats.valid:
                break
            if worker.poll() is not None:
                raise SystemExit(f"worker exited with {worker.returncode}")
            time.sleep(0.05)
        assert first is not None
        elapsed = now - first[0]
        n = folded - first[1]
        print(
            f"ingest + profiles: {n:,.0f} events in {elapsed:.2f} s = {n / elapsed:,.0f} events/s "
            f"(one worker, {settings.partitions} partitions, embedded Tansu, 2-core machine)"
        )
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        broker.stop()


if __name__ == "__main__":
    main()
