"""Issue 17 on a real Kafka: ids under the topic prefix, clients named per component, and a
worker that checks its topics instead of creating them (``--no-create-topics``).

``segue tail``, ``profile get|export`` and the other tools read by assignment: they join no
group and commit nothing, so the broker never lists their group (unit tests check the id they
use, ``<prefix>segue-cli-<8 hex>``). The commands that do join one are ``segue sink`` and
``segue worker``: those are what the broker is asked about here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from app.settings import Settings
from app.topics.specs import load_specs
from tests.integration.broker import BrokerUnderTest
from tests.integration.live_support import WORKER_ARGS
from tests.integration.sink_support import SinkProcess, provider_env
from tests.integration.support import ROOT, Deployment
from tests.integration.test_cli import segue

#: how long a started component may take to join its group (a cold start is ~5 s)
JOIN_S = 25.0


def members(admin: AdminClient, group: str, timeout_s: float = JOIN_S) -> list[str]:
    """The client ids of the group's members, once it has any (waits for them)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = admin.list_consumer_groups(request_timeout=10).result()
        if group in {g.group_id for g in listed.valid}:
            described = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
            if described.members:
                return sorted(m.client_id for m in described.members)
        time.sleep(0.3)
    return []


def no_topics_env(broker: BrokerUnderTest, tmp_path: Path) -> tuple[dict[str, str], str]:
    """A deployment's environment under a prefix no topic has yet."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEGUE_", "KAFKA_"))}
    env.update(
        {
            "SEGUE_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SEGUE_BROKER_PROFILE": broker.profile,
            "SEGUE_TOPIC_PREFIX": prefix,
            "SEGUE_STATE_DIR": str(tmp_path / "state"),
            "SEGUE_PARTITIONS": "2",
            "SEGUE_METRICS_PORT": "0",
            "SEGUE_LOG_LEVEL": "info",
        }
    )
    return env, prefix


def test_a_sink_joins_its_group_under_the_prefix_named_after_its_channel(
    deployment: Deployment,
) -> None:
    env = provider_env("email", kind="file", path=deployment.tmp / "outbox.jsonl")
    sink = SinkProcess(deployment, "email", env).start()
    admin = AdminClient({"bootstrap.servers": deployment.settings.bootstrap_servers})
    try:
        group = f"{deployment.prefix}segue-sink-email"
        found = members(admin, group)
        assert found == [group], f"{found}\n{sink.log()[-3000:]}"  # client.id: the same name
        assert sink.proc is not None and sink.proc.poll() is None, sink.log()[-3000:]
    finally:
        sink.stop()


def test_no_create_topics_refuses_without_topics_and_starts_once_they_are_provisioned(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    env, prefix = no_topics_env(broker, tmp_path)
    worker = ["worker", "--processes", "1", *WORKER_ARGS]
    # nothing provisioned: one line, exit 2, nothing created
    refused = segue({**env, "SEGUE_CREATE_TOPICS": "false"}, *worker, timeout=60)
    lines = (refused.stdout + refused.stderr).strip().splitlines()
    assert refused.returncode == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("segue worker: topics are not as declared"), lines
    assert f"{prefix}events, {prefix}events.receipts, {prefix}segue.dlq and " in lines[0]
    assert "segue topics apply" in lines[0]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    existing = admin.list_topics(timeout=10).topics
    assert not [t for t in existing if t.startswith(prefix)]
    # provisioned elsewhere (here: by `segue topics apply`): the worker starts without creating
    applied = segue(env, "topics", "apply", timeout=60)
    assert applied.returncode == 0, applied.stderr
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *worker, "--no-create-topics"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        found = members(admin, f"{prefix}segue")
        text = log_path.read_text(errors="replace")
        assert found == [f"{prefix}segue-worker-0"], f"{found}\n{text[-3000:]}"
        assert proc.poll() is None, text[-3000:]
        assert "topic mismatch" not in text, text[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    declared = {s.name for s in load_specs(Settings(topic_prefix=prefix))}
    assert {t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)} == declared
