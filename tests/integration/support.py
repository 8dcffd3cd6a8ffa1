"""Helpers for integration tests: isolated settings, worker processes, waiting on metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from app.broker.embedded import free_port
from app.kafka_io import make_producer, read_partitions
from app.settings import Settings
from app.topics.apply import apply_topics
from tests.integration.broker import BrokerUnderTest

ROOT = Path(__file__).resolve().parents[2]


class Deployment:
    """One isolated Segue deployment on the shared broker: own topic prefix, group, state."""

    def __init__(
        self, broker: BrokerUnderTest, tmp: Path, partitions: int = 4, prefix: str | None = None
    ) -> None:
        # ``prefix``: the same deployment (topics, groups, state folders) on another broker
        self.prefix = prefix or f"t{uuid.uuid4().hex[:8]}."
        self.tmp = tmp
        self.env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SEGUE_BROKER_PROFILE": broker.profile,
            "SEGUE_TOPIC_PREFIX": self.prefix,
            "SEGUE_STATE_DIR": str(tmp / "state"),
            "SEGUE_PARTITIONS": str(partitions),
            "SEGUE_LOG_LEVEL": "info",
        }
        self.env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        self.settings = Settings(
            bootstrap_servers=broker.bootstrap,
            broker_profile=broker.profile,
            topic_prefix=self.prefix,
            state_dir=tmp / "state",
            partitions=partitions,
        )
        report = apply_topics(self.settings)
        assert report.ok, report.mismatches

    def produce(self, records: Iterable[tuple[bytes | None, bytes]], topic: str) -> int:
        producer = make_producer(self.settings)
        errors: list[Any] = []
        n = 0
        for key, value in records:
            producer.produce(
                topic, key=key, value=value, on_delivery=lambda e, _m: e and errors.append(e)
            )
            producer.poll(0)
            n += 1
        assert producer.flush(30) == 0
        assert not errors, errors
        return n

    def read(self, topic: str) -> list[Any]:
        return list(read_partitions(self.settings, topic))

    def latest_by_key(self, topic: str) -> dict[bytes, bytes | None]:
        latest: dict[bytes, bytes | None] = {}
        for msg in self.read(topic):
            latest[msg.key()] = msg.value()
        return latest

    def latest_state(self, changelog: str) -> dict[str, Any]:
        """A store's latest values by key, from its changelog (UTF-8 keys, JSON values)."""
        return {k.decode(): orjson.loads(v) for k, v in self.latest_by_key(changelog).items() if v}


class WorkerProcess:
    """``segue worker`` in a subprocess, with its own metrics port and log file."""

    def __init__(
        self, deployment: Deployment, worker_id: str = "0", args: tuple[str, ...] = ()
    ) -> None:
        self.deployment = deployment
        self.worker_id = worker_id
        self.args = args
        # room for --processes children on the ports after it
        self.metrics_port = free_port(count=4)
        self.log_path = deployment.tmp / f"worker-{worker_id}-{uuid.uuid4().hex[:4]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    #: where the worker's metrics endpoint is reached from the test
    metrics_host = "127.0.0.1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "app", "worker", "--worker-id", self.worker_id]

    def environment(self) -> dict[str, str]:
        return {**self.deployment.env, "SEGUE_METRICS_PORT": str(self.metrics_port)}

    def start(self) -> WorkerProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*self.command(), *self.process_args()],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def process_args(self) -> tuple[str, ...]:
        """One process unless the test asks for more: its metrics are one endpoint's."""
        return self.args if "--processes" in self.args else ("--processes", "1", *self.args)

    def metric(self, name: str) -> float:
        """Sum of a metric's samples (all labels); 0 while the endpoint is not up yet."""
        try:
            with urllib.request.urlopen(
                f"http://{self.metrics_host}:{self.metrics_port}/metrics", timeout=2
            ) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.log()}")
            if check():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.log()[-4000:]}")

    def wait_metric(self, name: str, at_least: float, timeout_s: float = 120.0) -> None:
        self.wait_for(f"{name} >= {at_least}", lambda: self.metric(name) >= at_least, timeout_s)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def envelope_bytes(event: dict[str, Any]) -> tuple[bytes, bytes]:
    key = event.get("customer_id") or event.get("anonymous_id")
    return key.encode(), orjson.dumps(event)
