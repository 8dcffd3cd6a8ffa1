"""The operator's commands against a real broker: broker, topics, produce, tail, profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from app.broker.embedded import free_port
from app.cli.profile import fetch_profile
from app.topics.specs import TopicNames
from tests.integration.broker import BrokerUnderTest
from tests.integration.support import ROOT, Deployment
from tests.integration.test_pipeline import expected_profiles, some_events, wait_profiles


def segue(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.tansu_smoke
def test_broker_start_status_stop(broker: BrokerUnderTest, tmp_path: Path) -> None:
    env = {**os.environ, "SEGUE_STATE_DIR": str(tmp_path)}
    port = str(free_port())
    assert segue(env, "broker", "status", "--port", port).returncode == 1
    started = segue(env, "broker", "start", "--port", port, "--kind", broker.profile)
    assert started.returncode == 0, started.stderr
    assert "running" in segue(env, "broker", "status", "--port", port).stdout
    assert segue(env, "broker", "start", "--port", port).returncode == 0  # idempotent
    assert "stopped" in segue(env, "broker", "stop", "--port", port).stdout
    assert segue(env, "broker", "status", "--port", port).returncode == 1
    assert "not running" in segue(env, "broker", "stop", "--port", port).stdout


def test_topics_apply_creates_reports_and_never_changes_partitions(deployment: Deployment) -> None:
    env = {**deployment.env, "SEGUE_TOPIC_PREFIX": deployment.prefix + "x."}
    names = TopicNames(
        deployment.settings.model_copy(update={"topic_prefix": env["SEGUE_TOPIC_PREFIX"]})
    )
    admin = AdminClient(deployment.settings.kafka_config())
    admin.create_topics([NewTopic(names.dlq, 3, 1)])[names.dlq].result()  # declared with 1
    first = segue(env, "topics", "apply")
    assert first.returncode == 1
    assert f"{names.dlq}: has 3 partitions, declared 1" in first.stderr
    assert f"created   {names.events}" in first.stdout
    again = segue(env, "topics", "apply")
    assert f"present   {names.events}" in again.stdout
    meta = admin.list_topics(timeout=10).topics
    assert len(meta[names.dlq].partitions) == 3  # left alone


@pytest.mark.tansu_smoke
def test_produce_tail_and_profile_get(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    names = TopicNames(deployment.settings)
    events = some_events(120, 12, seed=11)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n\n")  # blank line too
    produced = segue(deployment.env, "produce", str(path))
    assert produced.returncode == 0, produced.stderr
    assert "published 120 records" in produced.stdout

    tailed = segue(deployment.env, "tail", names.events, "--from-beginning", "--max", "5")
    lines = [orjson.loads(line) for line in tailed.stdout.splitlines()]
    assert len(lines) == 5
    assert all(line["topic"] == names.events and line["value"]["event_id"] for line in lines)
    everything = segue(deployment.env, "tail", names.events, "--from-beginning", "--no-follow")
    assert len(everything.stdout.splitlines()) == 120

    worker = start_worker()
    records = [(e["customer_id"].encode(), orjson.dumps(e)) for e in events]
    expected = expected_profiles(records)
    wait_profiles(deployment, worker, expected)
    customer = events[0]["customer_id"]
    assert fetch_profile(deployment.settings, customer) == expected[customer]
    shown = segue(deployment.env, "profile", "get", customer, "--json")
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["counts"] == expected[customer]["counts"]
    assert segue(deployment.env, "profile", "get", "nobody").returncode == 1
