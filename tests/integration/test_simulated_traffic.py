"""Simulated traffic through the real pipeline, and the demo (the README's main job)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import orjson

from app.sim import simulate
from app.topics.specs import TopicNames
from tests.integration.broker import BrokerUnderTest
from tests.integration.support import ROOT, Deployment
from tests.integration.test_pipeline import expected_profiles, wait_profiles

START_MS = 1_795_420_800_000  # 2026-11-23T08:00:00Z


def test_one_thousand_simulated_events_give_the_expected_profiles(
    deployment: Deployment, start_worker: Any
) -> None:
    records: list[tuple[bytes | None, bytes]] = []
    for event in simulate(seed=3, rate=50, duration_s=20, start_ms=START_MS, customers=80):
        assert isinstance(event, dict)
        key = event.get("customer_id") or event.get("anonymous_id")
        records.append((key.encode(), orjson.dumps(event)))
    assert len(records) == 1000
    worker = start_worker()
    deployment.produce(records, TopicNames(deployment.settings).events)
    expected = expected_profiles(records)
    assert len(expected) > 50  # many customers, not one
    wait_profiles(deployment, worker, expected)


def test_the_demo_runs_to_its_summary_and_stops_what_it_started(
    broker: BrokerUnderTest, tmp_path: Any
) -> None:
    env = {
        **os.environ,
        "SEGUE_BOOTSTRAP_SERVERS": broker.bootstrap,
        "SEGUE_BROKER_PROFILE": broker.profile,
        "SEGUE_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "demo",
            "--rate",
            "100",
            "--duration",
            "4",
            "--malformed-rate",
            "0.05",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    published = int(re.search(r"events published\s+([\d,]+)", out).group(1).replace(",", ""))
    seen = int(re.search(r"events in \(worker\)\s+([\d,]+)", out).group(1).replace(",", ""))
    dlq = int(re.search(r"rejected to the DLQ\s+([\d,]+)", out).group(1).replace(",", ""))
    profiles = int(re.search(r"profiles built\s+([\d,]+)", out).group(1).replace(",", ""))
    assert published == seen == 400
    assert dlq == 20  # 5 % of 400, all dead-lettered
    assert profiles > 0
    assert "worker    stopped" in out
    assert "broker    stopped" not in out  # it used the running broker and left it alone
