"""Sink workers in subprocesses, and helpers to build and read actions and receipts."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from tests.integration.support import ROOT, Deployment, WorkerProcess
from tests.sink_servers import HttpRecorder, SmtpRecorder, http_server, smtp_server


class SinkProcess(WorkerProcess):
    """``segue sink CHANNEL`` with its provider configured through the environment."""

    def __init__(
        self, deployment: Deployment, channel: str, env: dict[str, str], worker_id: str = "0"
    ) -> None:
        super().__init__(deployment, worker_id)
        self.channel = channel
        self.extra_env = env
        self.log_path = deployment.tmp / f"sink-{channel}-{uuid.uuid4().hex[:4]}.log"

    def start(self) -> SinkProcess:
        env = {
            **self.deployment.env,
            **self.extra_env,
            "SEGUE_METRICS_PORT": str(self.metrics_port),
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "sink", self.channel, "--worker-id", self.worker_id],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_exit(self, timeout_s: float = 120.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)


def provider_env(channel: str, **fields: Any) -> dict[str, str]:
    prefix = f"SEGUE_SINK_{channel.upper()}__"
    return {prefix + k.upper(): str(v) for k, v in fields.items()}


def make_action(channel: str, n: int, customer: str, template: str, **over: Any) -> dict[str, Any]:
    action = {
        "action_id": f"act-{channel}-{n}-{uuid.uuid4().hex[:6]}",
        "customer_id": customer,
        "journey": "cart_recovery",
        "journey_version": 3,
        "step": f"step_{channel}",
        "channel": channel,
        "template": template,
        "variant": None,
        "trigger_event_id": f"e-{n}",
        "event_time": "2026-11-23T10:00:00Z",
        "decided_at": "2026-11-23T10:00:00Z",
        "scores": {"churn": 0.3, "intent": 0.8},
        "data": {"n": n},
        "context": {"category": "promotional", "priority": 50, "visit": 1},
    }
    action.update(over)
    return action


def action_records(actions: list[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    return [(a["customer_id"].encode(), orjson.dumps(a)) for a in actions]


def receipts(deployment: Deployment, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.value()) for m in deployment.read(topic)]


@contextmanager
def sinks_to_real_providers(
    deployment: Deployment, secret: str
) -> Iterator[tuple[SmtpRecorder, HttpRecorder, list[SinkProcess]]]:
    """A real SMTP server and a signing HTTP server, with `segue sink` processes for email,
    agent (/helpdesk) and webhook (/hooks) delivering to them; stopped on the way out."""
    sinks: list[SinkProcess] = []
    with smtp_server() as (smtp, smtp_port), http_server(secret.encode()) as (http, url):
        providers = {
            "email": {"kind": "smtp", "port": smtp_port},
            "agent": {"kind": "http", "url": f"{url}/helpdesk", "secret": secret},
            "webhook": {"kind": "http", "url": f"{url}/hooks", "secret": secret},
        }
        try:
            for channel, provider in providers.items():
                sinks.append(
                    SinkProcess(deployment, channel, provider_env(channel, **provider)).start()
                )
            yield smtp, http, sinks
        finally:
            for sink in sinks:
                sink.stop()
