"""Local state against the broker it belongs to (issue 16, app/incarnation.py), on real brokers.

The reported case: the memory-only broker restarted, the worker's folder was deleted by hand and
the same traffic published again, and the email sink delivered 0 of 77 emails: its dedupe store
had survived, the action ids are deterministic, and only a counter said so. Here:

- restarted on the same broker, the worker and a sink resume (no refusal), and an action seen
  again is logged as a dedupe, with its id, customer, channel and why;
- their folders against another broker (a second Kafka), a broker that lost everything (Tansu
  restarted), topics deleted and created again, and a folder from before the record (its
  offsets ahead of the topics' ends): each start is refused in one line naming
  `segue state reset`, with a non-zero exit code, in bounded time; after the reset they start,
  and the re-published actions are delivered, not deduplicated.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from app.broker.embedded import KafkaBroker, TansuBroker, free_port
from app.incarnation import RECORD_FILE, read_record
from app.sinks.callbacks import seen_path
from app.sinks.worker import store_path
from app.topics.apply import apply_topics
from app.topics.specs import TopicNames
from app.worker.run import state_dir_for
from tests.integration.broker import BrokerUnderTest
from tests.integration.live_support import WORKER_ARGS, journey_events, produce_events
from tests.integration.sink_support import SinkProcess, action_records, make_action, provider_env
from tests.integration.support import Deployment, WorkerProcess
from tests.integration.test_cli import segue
from tests.integration.test_live_journeys import future_ms, owns_partitions
from tests.sink_servers import SmtpRecorder, smtp_server

#: a refused start ends within this (measured: 2.2-3.7 s from the process's start, most of it
#: Python's imports, the journeys and the broker's first answers)
REFUSED_WITHIN_S = 20.0
HINT = "run `segue state reset` to clear the worker's and the sinks' state"


def run_worker_once(deployment: Deployment, events: int, seed: int) -> None:
    """A worker that handles ``events`` events and stops (SIGTERM: it checkpoints)."""
    worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
    try:
        worker.wait_for("partitions", lambda: owns_partitions(worker))
        produce_events(deployment, journey_events(events, 10, seed=seed, start_ms=future_ms()))
        worker.wait_metric("segue_profile_updates_total", events)
    finally:
        worker.stop()
    assert worker.proc is not None and worker.proc.returncode == 0, worker.log()[-3000:]


def email_actions(n: int) -> list[dict[str, Any]]:
    return [
        make_action(
            "email",
            i,
            f"c-{i}",
            "cart_offer",
            profile={"attributes": {"email": f"c{i}@example.com"}},
        )
        for i in range(n)
    ]


def email_sink(deployment: Deployment, smtp_port: int) -> SinkProcess:
    env = provider_env("email", kind="smtp", port=smtp_port)
    env["SEGUE_SINK_PROFILES"] = "false"
    return SinkProcess(deployment, "email", env).start()


def deliver(deployment: Deployment, smtp: SmtpRecorder, port: int, actions: list[Any]) -> None:
    """Publish ``actions`` and run the email sink until it has delivered them all."""
    deployment.produce(action_records(actions), TopicNames(deployment.settings).actions["email"])
    sink = email_sink(deployment, port)
    try:
        sink.wait_for(
            "every action delivered",
            lambda: all(smtp.action_ids()[a["action_id"]] for a in actions),
        )
    finally:
        sink.stop()


class CallbacksProcess(WorkerProcess):
    """``segue sink-callbacks``: its seen receipts are state of the broker too."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "app", "sink-callbacks", "--port", str(free_port())]

    def process_args(self) -> tuple[str, ...]:
        return ()

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "SEGUE_SINK_CALLBACK_SECRET": "s3cret"}

    def checked(self) -> bool:
        """Past the start's check: the folder's record is written."""
        return (seen_path(self.deployment.settings) / RECORD_FILE).exists()


def assert_refused(process: WorkerProcess, command: str, found: str) -> str:
    """The process ends on its own, non-zero, with one line saying what it found and what to
    do, and no traceback; returns that line."""
    assert process.proc is not None
    started = time.monotonic()
    code = process.proc.wait(REFUSED_WITHIN_S)
    elapsed = time.monotonic() - started
    text = process.log()
    lines = [line for line in text.splitlines() if HINT in line]
    assert code == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert len(lines) == 1, text[-3000:]
    line = lines[0]
    assert line.startswith(f"segue {command}: state in "), line
    assert found in line, line
    assert line.endswith(HINT), line
    assert text.rstrip().endswith(line), "the refusal is the last thing said"
    print(f"refused in {elapsed:.1f} s: {line}")
    return line


def cluster_id(bootstrap: str) -> str:
    return str(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).cluster_id)


def test_restarted_on_the_same_broker_they_resume_and_a_dedupe_is_logged(
    deployment: Deployment, broker: BrokerUnderTest
) -> None:
    settings = deployment.settings
    run_worker_once(deployment, 30, seed=1)
    first = email_actions(8)
    with smtp_server() as (smtp, port):
        deliver(deployment, smtp, port, first)
        # both folders say which broker and which topics they belong to
        for folder in (state_dir_for(settings, "0"), store_path(settings, "email")):
            record = read_record(folder)
            assert record is not None, folder
            assert record["cluster_id"] == cluster_id(broker.bootstrap)
            assert all(record["topics"].values()), record  # the broker gave every topic an id

        run_worker_once(deployment, 20, seed=2)  # no refusal: the same broker, the same topics

        again = [*first, *email_actions(3)]  # the first 8 again, with their ids, and 3 new
        deployment.produce(action_records(again), TopicNames(settings).actions["email"])
        sink = email_sink(deployment, port)
        try:
            sink.wait_metric("segue_sink_deduplicated_total", len(first))
            sink.wait_metric("segue_sink_delivered_total", 3)
        finally:
            sink.stop()
        assert smtp.action_ids() == {a["action_id"]: 1 for a in again}
    text = sink.log()
    for action in first:
        line = (
            f"email: action {action['action_id']} for customer {action['customer_id']} not "
            "delivered again: already sent at "
        )
        assert text.count(line) == 1, text[-3000:]
    assert HINT not in text


def test_state_of_another_broker_is_refused_until_reset_then_delivered_again(
    deployment: Deployment, broker: BrokerUnderTest, tmp_path: Path
) -> None:
    actions = email_actions(6)
    run_worker_once(deployment, 30, seed=3)
    other = KafkaBroker(
        "127.0.0.1", free_port(), tmp_path / "broker-b", controller_port=free_port()
    )
    other.start()
    try:
        with smtp_server() as (smtp, port):
            deliver(deployment, smtp, port, actions)  # on broker A
            assert sum(smtp.action_ids().values()) == len(actions)
            callbacks = CallbacksProcess(deployment).start()
            callbacks.wait_for("the callbacks' state check", callbacks.checked)
            callbacks.stop()

            # the same deployment (prefix, groups, state folder) against broker B
            on_b = Deployment(
                BrokerUnderTest(other.bootstrap, "kafka", other), tmp_path, prefix=deployment.prefix
            )
            was, now = cluster_id(broker.bootstrap), cluster_id(other.bootstrap)
            refused = f"belongs to another broker (cluster {was}, now {now})"
            assert_refused(WorkerProcess(on_b, "0", WORKER_ARGS).start(), "worker", refused)
            line = assert_refused(email_sink(on_b, port), "sink", refused)
            assert str(store_path(on_b.settings, "email")) in line
            line = assert_refused(CallbacksProcess(on_b).start(), "sink-callbacks", refused)
            assert str(seen_path(on_b.settings)) in line

            reset = segue(on_b.env, "state", "reset", "--yes")
            assert reset.returncode == 0, reset.stderr
            assert f"removed {state_dir_for(on_b.settings, '0')} (worker 0)" in reset.stdout
            assert f"removed {store_path(on_b.settings, 'email')} (sink email 0)" in reset.stdout
            assert f"removed {seen_path(on_b.settings)} (sink-callbacks)" in reset.stdout
            assert not state_dir_for(on_b.settings, "0").exists()

            run_worker_once(on_b, 30, seed=3)  # starts, on broker B now
            # the same actions, the same ids, re-published on B: delivered, not deduplicated
            on_b.produce(action_records(actions), TopicNames(on_b.settings).actions["email"])
            sink = email_sink(on_b, port)
            try:
                sink.wait_metric("segue_sink_delivered_total", len(actions))
                assert sink.metric("segue_sink_deduplicated_total") == 0
            finally:
                sink.stop()
            assert smtp.action_ids() == {a["action_id"]: 2 for a in actions}
            record = read_record(store_path(on_b.settings, "email"))
            assert record is not None and record["cluster_id"] == now
    finally:
        other.stop()


def test_topics_created_again_and_a_folder_from_before_the_record_are_refused(
    deployment: Deployment, broker: BrokerUnderTest
) -> None:
    settings = deployment.settings
    run_worker_once(deployment, 30, seed=4)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(deployment.prefix)]
    for future in admin.delete_topics(ours, operation_timeout=30).values():
        future.result()
    deadline = time.monotonic() + 60
    while set(ours) & set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, "the topics were not deleted"
        time.sleep(0.5)
    assert apply_topics(settings).ok  # the same names, new incarnations

    worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
    assert_refused(worker, "worker", "belongs to another incarnation of topic ")

    # A folder left by a Segue from before the record: only its offsets can tell, and the
    # stores' changelog offsets lie beyond the new changelogs' ends (0).
    (state_dir_for(settings, "0") / RECORD_FILE).unlink()
    worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
    line = assert_refused(worker, "worker", "is ahead of the broker (")
    assert "-changelog[" in line and "the topic now ends at 0" in line


def test_a_restarted_tansu_which_keeps_nothing_is_told_by_its_topic_ids(tmp_path: Path) -> None:
    """The reported case: the memory-only broker restarted (same address, same cluster id
    ``tansu_cluster``, every topic gone); its topics, created again, have new ids."""
    port = free_port()
    tansu = TansuBroker("127.0.0.1", port, tmp_path / "tansu")
    tansu.start()
    try:
        first = Deployment(BrokerUnderTest(tansu.bootstrap, "tansu", tansu), tmp_path)
        run_worker_once(first, 20, seed=5)
        tansu.stop()
        tansu.start()
        again = Deployment(
            BrokerUnderTest(tansu.bootstrap, "tansu", tansu), tmp_path, prefix=first.prefix
        )
        worker = WorkerProcess(again, "0", WORKER_ARGS).start()
        assert_refused(worker, "worker", "belongs to another incarnation of topic ")
        reset = segue(again.env, "state", "reset", "--yes")
        assert reset.returncode == 0, reset.stderr
        run_worker_once(again, 20, seed=5)
    finally:
        tansu.stop()


def test_the_reset_is_refused_while_a_worker_runs(deployment: Deployment) -> None:
    worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
    try:
        worker.wait_for("partitions", lambda: owns_partitions(worker))
        assert worker.proc is not None
        refused = segue(deployment.env, "state", "reset", "--yes")
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"segue state reset: worker 0 (pid {worker.proc.pid}) is running on "
            f"{state_dir_for(deployment.settings, '0')}: stop it first (nothing removed)"
        )
        shown = segue(deployment.env, "state", "show")
        assert shown.returncode == 0, shown.stderr
        assert f"(worker 0, running: worker 0 (pid {worker.proc.pid}))" in shown.stdout
        assert f"matches the broker at {deployment.settings.bootstrap_servers}" in shown.stdout
    finally:
        worker.stop(signal.SIGTERM)
    assert state_dir_for(deployment.settings, "0").exists()
