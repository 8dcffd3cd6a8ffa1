"""The runtime (app/runtime/) on the real broker: a counting agent in its own process, stopped
cleanly, crashed at each point of the checkpoint, and started on an empty state folder.

After each run: every input record counted exactly once in the final state (the changelog's
and the store's), and every input named by at least one output record (exactly once with
exactly-once, read committed)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from app.kafka_io import make_consumer, watermarks
from app.runtime.store import PartitionStore
from tests.integration.broker import BrokerUnderTest
from tests.integration.support import Deployment

PARTITIONS = 4
KEYS = [f"k{i}".encode() for i in range(23)]
ROOT = Path(__file__).resolve().parents[2]


class Counting:
    def __init__(
        self,
        broker: BrokerUnderTest,
        tmp: Path,
        agent: str = "counter",
        stores: tuple[str, ...] = ("counts",),
    ) -> None:
        self.deployment = Deployment(broker, tmp, partitions=PARTITIONS)
        settings = self.deployment.settings
        self.settings = settings
        prefix = settings.topic_prefix
        self.input = f"{prefix}runtime-in"
        self.output = f"{prefix}runtime-out"
        changelogs = [f"{prefix}{settings.app_id}-{agent}-{store}-changelog" for store in stores]
        self.changelog = changelogs[0]
        self.group = f"{prefix}{agent}"
        admin = AdminClient(settings.kafka_config())
        topics = [
            NewTopic(self.input, PARTITIONS, 1),
            NewTopic(self.output, PARTITIONS, 1),
            *(NewTopic(c, PARTITIONS, 1, config={"cleanup.policy": "compact"}) for c in changelogs),
        ]
        for future in admin.create_topics(topics).values():
            future.result()
        self.sent: Counter[bytes] = Counter()
        self.ids: set[str] = set()
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.started: list[subprocess.Popen[bytes]] = []

    def publish(self, n: int) -> None:
        records = [(KEYS[(i * 7 + len(self.sent)) % len(KEYS)], b"x") for i in range(n)]
        self.deployment.produce(records, self.input)
        for key, _ in records:
            self.sent[key] += 1
        self.ids = {
            f"{m.topic()}/{m.partition()}/{m.offset()}" for m in self.deployment.read(self.input)
        }

    def publish_in_steps(self, n: int, steps: int = 10, pause_s: float = 0.5) -> None:
        """``n`` records in ``steps`` apart: a running worker checkpoints at least once per
        step (a pipelined checkpoint takes in all that was handled while the last was in
        flight, so a backlog read at once can pass a crash point only once or twice)."""
        for _ in range(steps):
            self.publish(n // steps)
            time.sleep(pause_s)

    def start(
        self, state: Path, *flags: str, crash_at: str | None = None
    ) -> subprocess.Popen[bytes]:
        env = dict(self.deployment.env)
        if crash_at:
            env["SEGUE_CRASH_AT"] = crash_at
        log = (self.logs / f"{uuid.uuid4().hex[:6]}.log").open("wb")
        args = [self.input, self.output, str(state), self.group, *flags]
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.runtime_counter", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)

    def committed_all(self) -> bool:
        consumer = make_consumer(self.settings, self.group)
        try:
            tps = [TopicPartition(self.input, p) for p in range(PARTITIONS)]
            committed = consumer.committed(tps, timeout=10)
            return all(tp.offset == watermarks(consumer, tp)[1] for tp in committed)
        finally:
            consumer.close()

    def wait_until_done(self, worker: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.committed_all():
            assert worker.poll() is None, f"worker ended with {worker.returncode}: {self.tail()}"
            assert time.monotonic() < deadline, f"not done in {timeout_s} s: {self.tail()}"
            time.sleep(0.3)

    def stop(self, worker: subprocess.Popen[bytes]) -> None:
        worker.terminate()
        assert worker.wait(60) == 0, self.tail()

    def tail(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.logs.iterdir()))

    def changelog_counts(self) -> dict[bytes, int]:
        latest = self.deployment.latest_by_key(self.changelog)
        return {k: orjson.loads(v)["n"] for k, v in latest.items() if v is not None}

    def outputs(self) -> list[str]:
        """The output topic, read committed (librdkafka's default isolation)."""
        return [m.value().decode() for m in self.deployment.read(self.output)]


def store_counts(state: Path) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for part in range(PARTITIONS):
        path = state / "counter" / "counts" / str(part)
        if not path.exists():
            continue
        store = PartitionStore(path)
        counts.update({k.encode(): v["n"] for k, v in store.items()})
        store.close()
    return counts


@pytest.fixture
def counting(broker: BrokerUnderTest, tmp_path: Path) -> Iterator[Counting]:
    counting = Counting(broker, tmp_path)
    yield counting
    counting.kill_all()


@pytest.mark.tansu_smoke
def test_every_record_counts_once_and_a_new_worker_recovers_from_the_changelog(
    counting: Counting, tmp_path: Path
) -> None:
    counting.publish(1500)
    worker = counting.start(tmp_path / "a")
    counting.wait_until_done(worker)
    counting.stop(worker)
    assert counting.changelog_counts() == dict(counting.sent)
    assert store_counts(tmp_path / "a") == dict(counting.sent)
    assert set(counting.outputs()) == counting.ids

    # an empty state folder: the counts come back from the changelog before new records count
    counting.publish(500)
    worker = counting.start(tmp_path / "b")
    counting.wait_until_done(worker)
    counting.stop(worker)
    assert store_counts(tmp_path / "b") == dict(counting.sent)
    assert counting.changelog_counts() == dict(counting.sent)
    assert "recovered" in counting.tail()


@pytest.mark.parametrize(
    "point",
    [
        "handled:5",
        "outputs-flushed:3",
        "changelog-produced:3",
        "flushed:3",
        # the point where the changelog is ahead of the store: on Tansu too
        pytest.param("committed:3", marks=pytest.mark.tansu_smoke),
        "stored:3",
    ],
)
def test_a_crash_at_any_point_of_the_checkpoint_loses_and_doubles_nothing(
    counting: Counting, tmp_path: Path, point: str
) -> None:
    state = tmp_path / "state"
    crashed = counting.start(state, crash_at=point)
    counting.publish_in_steps(2000)
    assert crashed.wait(120) == 137, counting.tail()
    worker = counting.start(state)
    counting.wait_until_done(worker)
    counting.stop(worker)
    assert counting.changelog_counts() == dict(counting.sent)
    assert store_counts(state) == dict(counting.sent)
    assert set(counting.outputs()) == counting.ids  # at least once; the sinks dedupe by id


def test_exactly_once_outputs_each_record_once_across_a_crash(
    counting: Counting, tmp_path: Path, real_kafka: None
) -> None:
    state = tmp_path / "state"
    crashed = counting.start(state, "--exactly-once", crash_at="flushed:3")
    counting.publish_in_steps(2000)
    assert crashed.wait(120) == 137, counting.tail()
    worker = counting.start(state, "--exactly-once")
    counting.wait_until_done(worker)
    counting.stop(worker)
    outputs = counting.outputs()
    assert sorted(outputs) == sorted(counting.ids)
    assert store_counts(state) == dict(counting.sent)


def test_timers_wait_for_a_lagging_partition_so_a_purchase_in_the_backlog_cancels_its_reminder(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """The outage case: carts and then purchases, two hours old, wait on the broker when the
    worker starts. Every cart's reminder is due by the wall clock the moment the cart is read;
    the partition's time stays at its events' until its backlog is read, so the buyers' reminders
    are cancelled before their time comes, and only the others get one."""
    counting = Counting(broker, tmp_path, agent="reminder", stores=("due",))
    try:
        start = int(time.time() * 1000) - 2 * 3600 * 1000
        customers = [f"c{i}".encode() for i in range(60)]
        buyers = set(customers[:40])
        carts = [
            (key, orjson.dumps({"type": "cart", "ts": start + i}))
            for i, key in enumerate(customers)
        ]
        purchases = [
            (key, orjson.dumps({"type": "purchase", "ts": start + 600_000 + i}))
            for i, key in enumerate(customers)
            if key in buyers
        ]
        counting.deployment.produce(carts + purchases, counting.input)
        worker = counting.start(tmp_path / "state", "--reminder")
        counting.wait_until_done(worker)
        expected = {f"reminder:{k.decode()}" for k in customers if k not in buyers}
        deadline = time.monotonic() + 60
        while len(counting.outputs()) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.5)
        counting.stop(worker)
        assert sorted(counting.outputs()) == sorted(expected)
    finally:
        counting.kill_all()
