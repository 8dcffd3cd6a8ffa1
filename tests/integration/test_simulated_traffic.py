"""Simulated traffic through the real pipeline, and the demo (the README's main job)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import orjson
import pytest

from app.broker.embedded import free_port, port_open
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
    # the expected profiles are the pure fold of the events; without models no example journey
    # reaches an `update` step (churn_save's needs a churn score), which would add attributes
    deployment.env["SEGUE_MODELS_DIR"] = "none"
    worker = start_worker()
    deployment.produce(records, TopicNames(deployment.settings).events)
    expected = expected_profiles(records)
    assert len(expected) > 50  # many customers, not one
    wait_profiles(deployment, worker, expected)


def run_demo(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--rate", "100", "--duration", "4", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def summary_figure(out: str, label: str) -> int:
    found = re.search(rf"{label}\s+([\d,]+)", out)
    assert found, f"no {label!r} in the demo's summary:\n{out}"
    return int(found.group(1).replace(",", ""))


@pytest.mark.tansu_smoke
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
    out = run_demo(env, "--malformed-rate", "0.05", "--report", str(tmp_path / "report"))
    assert summary_figure(out, "events published") == 400
    assert summary_figure(out, r"events in \(worker\)") == 400
    assert summary_figure(out, "rejected to the DLQ") == 20  # 5 % of 400, all dead-lettered
    assert summary_figure(out, "profiles built") > 0
    # it published only once the worker had joined, and its sinks delivered every action to
    # the local SMTP and HTTP servers (and the in-app file), whose counts agree
    assert re.search(r"worker    ready in [\d.]+ s", out), out
    assert out.index("worker    ready") < out.index("simulate ")
    deliveries = re.search(r"deliveries\s+([\d,]+) receipts for ([\d,]+) actions", out)
    assert deliveries and deliveries.group(1) == deliveries.group(2) != "0", out
    per_channel = re.findall(
        r"^\s+(email|push|agent|in_app)\s+MessageSent: (\d+); the provider accepted (\d+)$",
        out,
        re.MULTILINE,
    )
    assert {channel for channel, _, _ in per_channel} >= {"email", "in_app"}, out
    assert all(sent == accepted for _, sent, accepted in per_channel), out
    assert "worker    stopped" in out and "sinks     stopped" in out
    assert "broker    stopped" not in out  # it used the running broker and left it alone
    # it ends with the journey report, read from the outcomes topic
    assert re.search(r"report: [\d,]+ outcome records", out), out
    assert "browse_reminder v2" in out
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "lift.csv").read_text().startswith("journey,version,variant")
    # and the analyst's command reads the same topics (under the prefix the demo names) to
    # the same conclusion
    prefix = re.search(r"prefix (\S+)", out)
    assert prefix, out
    done = subprocess.run(
        [sys.executable, "-m", "app", "report", "--topic", "--out", str(tmp_path / "again")],
        cwd=ROOT,
        env={**env, "SEGUE_TOPIC_PREFIX": prefix.group(1)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "browse_reminder v2" in done.stdout
    assert (tmp_path / "again" / "service.csv").read_text().startswith("journey,figure")


@pytest.mark.tansu_smoke
def test_the_demo_starts_its_own_embedded_broker_and_stops_it(
    broker: BrokerUnderTest, tmp_path: Any
) -> None:
    """`make demo` on a fresh machine: nothing listens, so the demo starts the broker itself."""
    port = free_port()
    env = {**os.environ, "SEGUE_STATE_DIR": str(tmp_path / "state")}
    env["SEGUE_BROKER_KIND"] = broker.profile  # the kind under test (Kafka, or Tansu's smoke run)
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SEGUE_BOOTSTRAP_SERVERS", "SEGUE_BROKER_PROFILE"):
        env.pop(name, None)
    out = run_demo(
        env, "--broker-port", str(port), "--malformed-rate", "0", "--report", str(tmp_path / "r")
    )
    name = "Apache Kafka" if broker.profile == "kafka" else "Tansu"
    assert re.search(rf"started the embedded broker \({name}[^)]*\) on 127.0.0.1:{port}", out), out
    assert summary_figure(out, r"events in \(worker\)") == 400
    assert "broker    stopped" in out
    assert not port_open("127.0.0.1", port)
