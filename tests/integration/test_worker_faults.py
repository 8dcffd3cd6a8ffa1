"""`segue worker` under faults on the real broker: kills at every point of the checkpoint
sequence, workers joining and leaving mid-stream. After each: every replay action id is on the
action topics and no other, a repeated id is the same action, and the final states equal the
pure core's (docs/live.md, "Order of work and the guarantees")."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from app.broker.embedded import KafkaBroker, free_port
from tests.integration.broker import BrokerUnderTest
from tests.integration.live_support import (
    WORKER_ARGS,
    Expected,
    clock_events,
    journey_events,
    produce_events,
    wait_for_actions,
    wait_for_state,
)
from tests.integration.support import Deployment, WorkerProcess
from tests.integration.test_live_journeys import assert_same_actions, future_ms, owns_partitions

#: every point of the checkpoint sequence where the runtime can be ended (app/runtime/)
POINTS = ("handled", "outputs-flushed", "changelog-produced", "flushed", "committed", "stored")
#: a kill is at (point, n): the n-th time the process passes the point (twice per point: a
#: third pass found nothing the first two did not, and the suite must stay within CI's budget)
KILLS = [(point, n) for n in (1, 2) for point in POINTS]
CHUNK = 25


def test_kills_at_every_point_of_the_checkpoint_lose_nothing_and_change_no_id(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    events = journey_events(CHUNK * len(KILLS), 40, seed=7, start_ms=start)
    until = start + len(events) * 100 + 60_000
    end = clock_events(deployment.settings.partitions, until, "end")
    expected = Expected(events + end, until)
    # checkpoints often, so that a run passes each point several times
    deployment.env["SEGUE_COMMIT_INTERVAL_MS"] = "100"
    crashed = 0
    for i, (point, n) in enumerate(KILLS):
        deployment.env["SEGUE_CRASH_AT"] = f"{point}:{n}"
        worker = start_worker("0", *WORKER_ARGS)
        assert worker.proc is not None
        deadline = time.monotonic() + 60
        # (it may end before: the last run's uncommitted records come again at once)
        while worker.proc.poll() is None and not owns_partitions(worker):
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        chunk = events[i * CHUNK : (i + 1) * CHUNK]
        for part in range(0, CHUNK, 5):  # a few batches and checkpoints per run
            produce_events(deployment, chunk[part : part + 5])
        try:
            code = worker.proc.wait(20)
        except subprocess.TimeoutExpired:  # no n-th pass: a kill wherever it is
            worker.stop(signal.SIGKILL)
            code = worker.proc.returncode
        crashed += code == 137
    del deployment.env["SEGUE_CRASH_AT"]
    assert crashed >= 10, f"only {crashed} of {len(KILLS)} runs ended at their crash point"

    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, end)
    live = wait_for_actions(deployment, [worker], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, worker, expected)


def test_a_second_and_third_worker_join_and_leave_mid_stream(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    batches = [journey_events(120, 30, seed=9, start_ms=start, first=120 * i) for i in range(5)]
    until = start + 600 * 100 + 60_000
    end = clock_events(deployment.settings.partitions, until, "end")
    expected = Expected([e for b in batches for e in b] + end, until)

    first = start_worker("0", *WORKER_ARGS)
    first.wait_for("partitions", lambda: owns_partitions(first))
    produce_events(deployment, batches[0])
    second = start_worker("1", *WORKER_ARGS)
    produce_events(deployment, batches[1])  # while the group rebalances
    third = start_worker("2", *WORKER_ARGS)
    produce_events(deployment, batches[2])
    for worker in (second, third):
        worker.wait_for("partitions", lambda w=worker: owns_partitions(w))
    produce_events(deployment, batches[3])
    for worker in (second, third):  # each of them did part of the work
        worker.wait_metric("segue_profile_updates_total", 1)
    second.stop()  # leaves mid-stream: checkpoints, its partitions go to the others
    produce_events(deployment, batches[4])
    third.stop(signal.SIGKILL)  # and one dies
    produce_events(deployment, end)

    live = wait_for_actions(deployment, [first], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, first, expected)


def test_a_broker_restart_mid_stream_loses_nothing_and_changes_no_id(tmp_path: Path) -> None:
    """The broker (a Kafka of the test's own, on fixed ports) stops while the worker is
    handling a stream and starts again seconds later: the worker rides it out (librdkafka
    reconnects, the checkpoint's flush waits for the broker) and then goes on as if nothing
    happened: every replay action id, no other, final states equal replay's."""
    broker = KafkaBroker("127.0.0.1", free_port(), tmp_path / "broker", controller_port=free_port())
    broker.start()
    worker: WorkerProcess | None = None
    try:
        deployment = Deployment(BrokerUnderTest(broker.bootstrap, "kafka", broker), tmp_path)
        start = future_ms()
        events = journey_events(300, 40, seed=11, start_ms=start)
        until = start + len(events) * 100 + 60_000
        end = clock_events(deployment.settings.partitions, until, "end")
        expected = Expected(events + end, until)
        worker = WorkerProcess(deployment, "0", WORKER_ARGS).start()
        worker.wait_for("partitions", lambda: owns_partitions(worker))
        produce_events(deployment, events[:150])
        worker.wait_metric("segue_profile_updates_total", 1)
        broker.stop()  # mid-stream: some of the 150 handled, their checkpoint not yet made
        time.sleep(5)
        broker.start()
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
        produce_events(deployment, events[150:])
        produce_events(deployment, end)
        live = wait_for_actions(deployment, [worker], expected)
        assert_same_actions(live, expected)
        wait_for_state(deployment, worker, expected)
        assert worker.proc.poll() is None, worker.log()[-3000:]  # rode it out, no restart
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
