"""The operator's path when something is off (issue 16, items 2, 3 and 9).

- No broker: every command that talks to Kafka says so in one line, naming the address and
  what to do, within seconds, exit code not 0, no traceback, no librdkafka lines (it took 61 s
  and 622 lines for ``produce``, 11-17 s and a traceback for ``tail``, ``worker``, ``sink``).
- A broker that goes away under a running worker or sink: one line per back-off step, and a
  SIGTERM ends it within seconds (a worker logged ~2,400 lines in 30 s and took ~62 s to stop).
- A worker and a sink on one host serve their metrics on distinct ports with default settings.
- Ordinary mistakes on a real broker: an unknown topic for ``tail``, ``simulate --out F
  --publish`` (both done), ``sink-callbacks`` saying where it listens.

Bounds on time are generous for a shared 2-core machine; the goal is 5 s (README, docs/broker.md
give the measured figures).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.broker.embedded import KafkaBroker, free_port
from app.topics.specs import TopicNames
from tests.integration.broker import BrokerUnderTest
from tests.integration.live_support import WORKER_ARGS, journey_events, produce_events
from tests.integration.sink_support import SinkProcess, action_records, make_action, provider_env
from tests.integration.support import ROOT, Deployment, WorkerProcess
from tests.integration.test_cli import segue
from tests.integration.test_live_journeys import future_ms, owns_partitions

#: seconds a command may take to say there is no broker (the goal is 5; Python's start is ~2)
NO_BROKER_BOUND_S = 10.0
#: lines a command may print when there is no broker (the goal is 1)
NO_BROKER_LINES = 3
#: seconds from SIGTERM to the end of a worker or sink whose broker is gone (the goal is 5)
STOP_BOUND_S = 10.0


def run(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, list[str], float]:
    """``segue ARGS``: exit code, every line it printed, and how long it took."""
    began = time.monotonic()
    done = segue(env, *args, timeout=timeout)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines, time.monotonic() - began


def no_broker_env(
    tmp_path: Path, address: str, variable: str = "SEGUE_BOOTSTRAP_SERVERS"
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEGUE_", "KAFKA_"))}
    env.update({variable: address, "SEGUE_STATE_DIR": str(tmp_path / "state")})
    env["SEGUE_SINK_CALLBACK_SECRET"] = "s3cret-for-the-test"  # sink-callbacks needs one
    return env


def commands(tmp_path: Path) -> dict[str, list[str]]:
    events = tmp_path / "events.jsonl"  # written by the test
    journeys = str(ROOT / "journeys")
    return {
        "produce": ["produce", str(events)],
        "simulate --publish": ["simulate", "--rate", "5", "--duration", "2", "--publish"],
        "worker": ["worker"],
        "worker --processes 1": ["worker", "--processes", "1"],
        "sink": ["sink", "email"],
        "sink-callbacks": ["sink-callbacks", "--port", str(free_port())],
        "tail": ["tail", "segue.events", "--no-follow"],
        "profile get": ["profile", "get", "c1"],
        "profile export": ["profile", "export", "c1"],
        "forget": ["forget", "c1"],
        "audit": ["audit"],
        "topics apply": ["topics", "apply"],
        "replay --topic": [
            "replay",
            "--topic",
            "--journeys",
            journeys,
            "--out",
            str(tmp_path / "a"),
        ],
        "backtest --topic": [
            "backtest",
            "--topic",
            "--journeys",
            journeys,
            "--against",
            journeys,
            "--out",
            str(tmp_path / "b"),
        ],
        "report --topic": ["report", "--topic", "--out", str(tmp_path / "r")],
        "dashboard": ["dashboard", "--port", "0"],
        "demo": ["demo", "--duration", "1"],
    }


NAMES = list(commands(Path("/")))


def assert_one_line(code: int, lines: list[str], elapsed: float, expected: str) -> None:
    text = "\n".join(lines)
    assert code != 0, text
    assert expected in lines, text
    assert len(lines) <= NO_BROKER_LINES, text
    assert "Traceback" not in text and "rdkafka" not in text, text
    assert elapsed < NO_BROKER_BOUND_S, f"{elapsed:.1f} s: {text}"


@pytest.mark.parametrize("name", NAMES)
def test_without_a_broker_every_command_says_so_in_one_line_at_once(
    tmp_path: Path, name: str
) -> None:
    port = free_port()  # nothing listens there
    env = no_broker_env(tmp_path, f"127.0.0.1:{port}")
    (tmp_path / "events.jsonl").write_bytes(b'{"type": "PageViewed", "customer_id": "c1"}\n')
    code, lines, elapsed = run(env, *commands(tmp_path)[name])
    expected = f"no broker at 127.0.0.1:{port} (start one with `segue broker start --port {port}`)"
    assert_one_line(code, lines, elapsed, expected)


def test_an_estate_that_does_not_answer_is_told_to_check_the_setting(tmp_path: Path) -> None:
    # TEST-NET-1 (RFC 5737): never answers; the connect times out (or the network says no)
    address = "192.0.2.1:9092"
    env = no_broker_env(tmp_path, address, "KAFKA_BOOTSTRAP_SERVERS")
    code, lines, elapsed = run(env, "tail", "segue.events", "--no-follow")
    expected = f"no broker at {address} (is it up? check SEGUE_BOOTSTRAP_SERVERS)"
    assert_one_line(code, lines, elapsed, expected)


# -- a broker that goes away ------------------------------------------------------------------


def lines_of(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def stop_and_time(proc: subprocess.Popen[bytes]) -> float:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_BOUND_S + 20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    return time.monotonic() - began


@pytest.fixture
def own_broker(tmp_path: Path) -> Any:
    """A Kafka of the test's own, to stop under a running process."""
    broker = KafkaBroker("127.0.0.1", free_port(), tmp_path / "broker", controller_port=free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_a_worker_whose_broker_goes_away_logs_a_line_per_step_and_stops_at_once(
    tmp_path: Path, own_broker: KafkaBroker
) -> None:
    deployment = Deployment(BrokerUnderTest(own_broker.bootstrap, "kafka", own_broker), tmp_path)
    # no checkpoint before the stop: the last one must wait for the broker, or give up
    deployment.env["SEGUE_COMMIT_INTERVAL_MS"] = "600000"
    worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
    assert worker.proc is not None
    try:
        worker.wait_for("partitions", lambda: owns_partitions(worker))
        produce_events(deployment, journey_events(60, 12, seed=5, start_ms=future_ms()))
        worker.wait_metric("segue_profile_updates_total", 1)
        before = len(lines_of(worker.log_path))
        own_broker.stop()
        time.sleep(8)
        away = lines_of(worker.log_path)[before:]
        assert worker.proc.poll() is None, worker.log()[-3000:]  # it rides the outage out
        # one line per back-off step (1, 2, 4 s ...) and the lag monitor's one: not thousands
        assert len(away) <= 12, "\n".join(away)
        assert not any(line.startswith("%") for line in away), "\n".join(away)  # librdkafka's own
        took = stop_and_time(worker.proc)
    finally:
        worker.stop()
    log = worker.log()
    assert took < STOP_BOUND_S, f"{took:.1f} s to stop:\n{log[-3000:]}"
    assert worker.proc.returncode != 0  # its last checkpoint is not made: a restart redoes it
    assert "Traceback" not in log, log[-3000:]
    [last] = [line for line in log.splitlines() if "without its last checkpoint" in line]
    assert f"no broker at {own_broker.bootstrap}" in last


def test_a_sink_whose_broker_goes_away_stops_at_once(
    tmp_path: Path, own_broker: KafkaBroker
) -> None:
    deployment = Deployment(BrokerUnderTest(own_broker.bootstrap, "kafka", own_broker), tmp_path)
    outbox = tmp_path / "outbox.jsonl"
    env = {
        **provider_env("email", kind="file", path=outbox),
        # offsets still to commit at the stop: the commit must not wait for a missing broker
        "SEGUE_SINK_COMMIT_INTERVAL_MS": "600000",
        "SEGUE_SINK_COMMIT_EVERY": "100000",
    }
    sink = SinkProcess(deployment, "email", env).start()
    assert sink.proc is not None
    try:
        sink.wait_metric("segue_sink_assigned_partitions", 1)
        actions = [make_action("email", n, f"c{n}", "cart_reminder") for n in range(3)]
        deployment.produce(
            action_records(actions), TopicNames(deployment.settings).actions["email"]
        )
        sink.wait_metric("segue_sink_delivered_total", 3)
        before = len(lines_of(sink.log_path))
        own_broker.stop()
        time.sleep(5)
        away = lines_of(sink.log_path)[before:]
        assert sink.proc.poll() is None, sink.log()[-3000:]
        assert len(away) <= 10, "\n".join(away)
        took = stop_and_time(sink.proc)
    finally:
        sink.stop()
    log = sink.log()
    assert took < STOP_BOUND_S, f"{took:.1f} s to stop:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]
    assert f"offsets not committed this round: no broker at {own_broker.bootstrap}" in log


# -- metrics ports ----------------------------------------------------------------------------

METRICS_LINE = re.compile(r"metrics on http://([\d.]+):(\d+)/metrics")


def metrics_port_in(path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = METRICS_LINE.search(path.read_text(errors="replace") if path.exists() else "")
        if found:
            return int(found.group(2))
        assert proc.poll() is None, path.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no metrics line:\n{path.read_text(errors='replace')[-3000:]}")


def serves_metrics(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return b"# HELP" in resp.read()


def test_a_worker_and_a_sink_side_by_side_serve_metrics_on_ports_of_their_own(
    deployment: Deployment,
) -> None:
    env = {k: v for k, v in deployment.env.items() if k != "SEGUE_METRICS_PORT"}  # defaults
    env.update(provider_env("email", kind="file", path=deployment.tmp / "outbox.jsonl"))
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for name, args in (
            ("worker", ["worker", "--processes", "1", *WORKER_ARGS]),
            ("sink", ["sink", "email"]),
        ):
            log = deployment.tmp / f"{name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "app", *args],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append((proc, log))
        ports = [metrics_port_in(log, proc) for proc, log in started]
        assert ports[0] != ports[1]
        assert all(serves_metrics(port) for port in ports)
        for proc, log in started:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert "Traceback" not in log.read_text()
        # a second sink of the channel with the same worker id: its store is taken, one line
        code, lines, _ = run(env, "sink", "email")
        assert code == 2 and "is open in another process" in lines[-1], lines
        assert len(lines) <= 3 and "Traceback" not in "\n".join(lines), lines
    finally:
        for proc, _log in started:
            if proc.poll() is None:
                stop_and_time(proc)


# -- ordinary mistakes on a real broker -------------------------------------------------------


def test_tail_of_a_topic_that_does_not_exist_is_one_line_with_a_guess(
    deployment: Deployment,
) -> None:
    code, lines, _ = run(deployment.env, "tail", "events", "--no-follow")
    assert code == 2
    assert lines == [
        f"tail: no topic 'events' at {deployment.settings.bootstrap_servers}; "
        f"did you mean '{TopicNames(deployment.settings).events}'?"
    ]


def test_simulate_out_and_publish_does_both(deployment: Deployment) -> None:
    out = deployment.tmp / "sent.jsonl"
    args = ["simulate", "--rate", "20", "--duration", "2", "--no-pace", "--seed", "3"]
    code, lines, _ = run(deployment.env, *args, "--publish", "--out", str(out))
    assert code == 0, lines
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(written) == 40
    published = deployment.read(TopicNames(deployment.settings).events)
    assert sorted(orjson.loads(m.value())["event_id"] for m in published) == sorted(
        e["event_id"] for e in written
    )
    assert lines[-1].endswith(
        "40/40 sent to " + f"{TopicNames(deployment.settings).events}, 40 delivered (0 malformed)"
    )


def test_sink_callbacks_says_where_it_listens(deployment: Deployment) -> None:
    port = free_port()
    env = {**deployment.env, "SEGUE_SINK_CALLBACK_SECRET": "s3cret-for-the-test"}
    log = deployment.tmp / "callbacks.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "sink-callbacks", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while f"http://127.0.0.1:{port}/callbacks" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # a second one, with the same state folder, or another on the same port: exit 2 and
        # the reason in one line (after the state check's own line, if any), no traceback
        other = {**env, "SEGUE_STATE_DIR": str(deployment.tmp / "other-state")}
        for again, says in (
            (env, "is open in another process"),
            (other, f"segue sink-callbacks: cannot listen on 127.0.0.1:{port}: "),
        ):
            code, lines, _ = run(again, "sink-callbacks", "--port", str(port))
            assert code == 2 and len(lines) <= 2 and says in lines[-1], lines
            assert "Traceback" not in "\n".join(lines)
    finally:
        stop_and_time(proc)
    assert proc.returncode == 0, log.read_text()
