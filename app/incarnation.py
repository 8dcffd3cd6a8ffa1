"""Which broker, and which incarnation of each topic, a local state folder belongs to.

Local state is right only against the broker it was built from. The worker's stores hold the
changelog offset they reflect and, in each profile, the input offsets already applied (the
redelivery guard); a sink's dedupe store holds the action ids already delivered; the callbacks
endpoint's store the receipt ids already published. A broker that lost its data (Tansu keeps
everything in memory; a Kafka whose log folder went) or a topic deleted and created again starts
its offsets at 0 and forgets the consumer groups, while the folder still says what it saw there:
the worker recovers nothing and skips re-published events as applied, and a sink drops every
re-sent action as delivered. Issue 16 met it: after a reset, 0 of 77 emails went out and only
``segue_sink_deduplicated_total`` moved.

So every folder records, in ``RECORD_FILE``, the cluster id of its broker and the topic id of
each topic it depends on (the first start writes it), and each start compares (``mismatch``):

- another cluster id: another broker. Tansu reports ``tansu_cluster`` whatever the instance
  (app/broker/detect.py), so there only the topic ids tell;
- a topic whose id changed: it was deleted and created again (Kafka and Tansu 0.6.0 both give
  a new id at each creation: measured with ``AdminClient.describe_topics``);
- where a topic's ids cannot be compared (a broker that gives none, or a folder left by a Segue
  from before this record): the offsets the state has reached must lie within the topic's end
  offsets; a reset broker's topics end at 0, or wherever the re-published traffic reached.
  (Tansu reports a wrong end offset for a partition whose last batch holds more than one record,
  app/stream/compat.py, so there this check could refuse a good folder; its topic ids keep it
  to folders from before the record.)

Any of these refuses the start with one line (``StateMismatch``) that names the folder, what was
found and ``segue state reset`` (app/cli/state.py), which clears the worker's and the sinks'
folders together.

A process that uses a folder holds a shared ``flock`` on ``OWNER_FILE`` (which names its pid) for
as long as it runs; ``segue state reset`` takes it exclusively, so it never removes a folder in
use, and the kernel drops the lock of a process that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.core.timeutil import format_ms
from app.settings import Settings
from app.topics.specs import CHANNELS

log = logging.getLogger("segue.state")

RECORD_FILE = "segue-incarnation.json"
OWNER_FILE = "segue-owner.lock"
RESET_HINT = "run `segue state reset` to clear the worker's and the sinks' state"
#: what a broker answers for a topic it has no id for (confluent-kafka's zero Uuid)
NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"
#: how long the broker's answers are waited for (a topic just created by ``apply_topics`` is
#: unknown to the broker's metadata for a moment on KRaft: asked again until then)
ASK_TIMEOUT_S = 15.0

TopicPartitionKey = tuple[str, int]


class StateMismatch(RuntimeError):
    """A state folder belongs to another broker or topic incarnation: one line, what to do."""


class StateBusy(RuntimeError):
    """A state folder is in use by a running process (or being reset)."""


# -- the comparison (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incarnation:
    """A broker and the topics a folder depends on, as the broker identifies them."""

    cluster_id: str | None
    #: topic -> topic id (None: the broker gave none); a topic the broker does not have is left
    #: out
    topic_ids: Mapping[str, str | None] = field(default_factory=dict)


def checked_by_offsets(
    recorded: Incarnation | None, now: Incarnation, reached: Mapping[TopicPartitionKey, int]
) -> set[TopicPartitionKey]:
    """The partitions of ``reached`` whose topic's identity cannot be compared: their end
    offsets must be asked for, for the offset check of ``mismatch``."""
    return {tp for tp in reached if not _comparable(recorded, now, tp[0])}


def mismatch(
    recorded: Incarnation | None,
    now: Incarnation,
    reached: Mapping[TopicPartitionKey, int],
    ends: Mapping[TopicPartitionKey, int],
) -> str | None:
    """What shows that the state belongs elsewhere, as the end of "state in F ..."; None: none.

    ``recorded``: what the folder recorded (None: nothing recorded); ``now``: the broker's
    answers; ``reached``: per partition, the end offset the broker must have at least for the
    state to be its (the worker's stores: their changelog offset + 1; a sink: its committed
    offset); ``ends``: the end offsets now, of the partitions ``checked_by_offsets`` named (a
    partition missing from it has none: its topic or partition does not exist)."""
    was = recorded.cluster_id if recorded is not None else None
    if was and now.cluster_id and was != now.cluster_id:
        return f"belongs to another broker (cluster {was}, now {now.cluster_id})"
    changed = sorted(
        topic
        for topic, was in (recorded.topic_ids.items() if recorded is not None else ())
        if _comparable(recorded, now, topic) and now.topic_ids.get(topic) != was
    )
    if changed:
        topic = changed[0]
        assert recorded is not None
        more = f"; {len(changed) - 1} more topics too" if len(changed) > 1 else ""
        return (
            f"belongs to another incarnation of topic {topic} (topic id "
            f"{recorded.topic_ids[topic]}, now {now.topic_ids.get(topic)}: the topic was deleted "
            f"and created again{more})"
        )
    unverified = checked_by_offsets(recorded, now, reached)
    ahead = sorted(
        (tp, offset)
        for tp, offset in reached.items()
        if tp in unverified and offset > ends.get(tp, 0)
    )
    if ahead:
        (topic, partition), offset = ahead[0]
        more = f"; {len(ahead) - 1} more partitions too" if len(ahead) > 1 else ""
        return (
            f"is ahead of the broker ({topic}[{partition}] was read up to offset {offset - 1}, "
            f"the topic now ends at {ends.get((topic, partition), 0)}: the broker lost its data "
            f"or the topic was created again{more})"
        )
    return None


def merged_topics(recorded: Incarnation | None, now: Incarnation) -> dict[str, str | None]:
    """The topic ids to record after a start that matched: the broker's, except that a recorded
    id stays where the broker has no id now (the topic is gone: created again later, it is
    another incarnation, which the next start must see)."""
    merged = dict(recorded.topic_ids) if recorded is not None else {}
    for topic, topic_id in now.topic_ids.items():
        if topic_id or topic not in merged:
            merged[topic] = topic_id
    return merged


def _comparable(recorded: Incarnation | None, now: Incarnation, topic: str) -> bool:
    return bool(recorded is not None and recorded.topic_ids.get(topic) and now.topic_ids.get(topic))


def refusal(folder: Path, found: str) -> str:
    """The one line a refused start prints."""
    return f"state in {folder} {found}: {RESET_HINT}"


# -- the record and the owner lock ---------------------------------------------------------------


def read_record(folder: Path) -> dict[str, Any] | None:
    """The folder's record, None if it has none (or one that cannot be read)."""
    try:
        record = orjson.loads((folder / RECORD_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def incarnation_of(record: Mapping[str, Any] | None) -> Incarnation | None:
    if record is None:
        return None
    topics = record.get("topics")
    if not isinstance(topics, dict):
        topics = {}
    return Incarnation(
        record.get("cluster_id") or None,
        {str(t): (str(i) if i else None) for t, i in topics.items()},
    )


def _write_record(folder: Path, record: Mapping[str, Any]) -> None:
    tmp = folder / f".{RECORD_FILE}.tmp"
    with tmp.open("wb") as out:
        out.write(orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(folder / RECORD_FILE)  # atomic: a crash leaves the old record or the new one


class Claim:
    """A running process's hold on a state folder: a shared lock on ``OWNER_FILE``, kept until
    ``release`` or the process's end (the kernel drops it even after SIGKILL)."""

    def __init__(self, folder: Path, component: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.component = component
        self._fd: int | None = os.open(folder / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # shared, not exclusive: two processes with one worker id were possible before
            # this lock (a --processes parent killed, its children still stopping while the
            # next ones start) and are not this module's to forbid
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise StateBusy(
                f"state in {folder} is being reset (`segue state reset`): start again when it "
                "has finished"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()} {component}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


class BrokerFacts:
    """What a state check asks the broker: its cluster id, topic ids, end offsets."""

    def __init__(self, settings: Settings, timeout_s: float = ASK_TIMEOUT_S) -> None:
        from confluent_kafka.admin import AdminClient

        self.timeout_s = timeout_s
        self.admin = AdminClient(settings.admin_config())

    def incarnation(self, topics: Iterable[str]) -> Incarnation:
        from confluent_kafka import KafkaException, TopicCollection

        from app.kafka_io import NOT_READY_YET

        metadata = self.admin.list_topics(timeout=self.timeout_s)
        present = sorted(t for t in set(topics) if t in metadata.topics)
        ids: dict[str, str | None] = {t: None for t in present}
        deadline = time.monotonic() + self.timeout_s
        while present:
            futures = self.admin.describe_topics(
                TopicCollection(present), request_timeout=self.timeout_s
            )
            retry = []
            for topic, future in futures.items():
                try:
                    topic_id = str(future.result().topic_id or "")
                except KafkaException as exc:
                    if exc.args[0].code() in NOT_READY_YET and time.monotonic() < deadline:
                        retry.append(topic)
                    continue
                ids[topic] = topic_id if topic_id and topic_id != NO_TOPIC_ID else None
            present = retry
            if retry:
                time.sleep(0.2)
        return Incarnation(str(metadata.cluster_id or "") or None, ids)

    def ends(self, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """End offsets (high watermarks) of the partitions that exist; the rest are left out."""
        from confluent_kafka import KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        wanted = {TopicPartition(t, p): OffsetSpec.latest() for t, p in sorted(set(partitions))}
        if not wanted:
            return {}
        ends: dict[TopicPartitionKey, int] = {}
        for tp, future in self.admin.list_offsets(wanted, request_timeout=self.timeout_s).items():
            try:
                ends[tp.topic, tp.partition] = int(future.result().offset)
            except KafkaException:
                continue  # no such partition: it holds nothing
        return ends


def check(
    settings: Settings,
    folder: Path,
    component: str,
    topics: Iterable[str],
    reached: Mapping[TopicPartitionKey, int] | None = None,
    broker: BrokerFacts | None = None,
) -> Claim:
    """Claim ``folder`` for ``component`` (e.g. "worker 0") and check that it belongs to the
    broker of ``settings``: raises ``StateMismatch`` (one line) if not, else records the broker
    and ``topics`` (what the folder depends on) and returns the claim, to hold while running.

    Raises ``StateBusy`` while a ``segue state reset`` works on the folder, and the client's
    KafkaException when the broker does not answer."""
    claim = Claim(folder, component)
    try:
        reached = dict(reached or {})
        record = read_record(folder)
        recorded = incarnation_of(record)
        broker = broker or BrokerFacts(settings)
        now = broker.incarnation(topics)
        ends = broker.ends(checked_by_offsets(recorded, now, reached))
        found = mismatch(recorded, now, reached, ends)
        if found is not None:
            raise StateMismatch(refusal(folder, found))
    except BaseException:
        claim.release()
        raise
    moment = format_ms(int(time.time() * 1000))
    merged = merged_topics(recorded, now)
    _write_record(
        folder,
        {
            "format": 1,
            "component": component,
            "bootstrap": settings.bootstrap_servers,
            "cluster_id": now.cluster_id,
            "topics": {t: i for t, i in sorted(merged.items())},
            "recorded_at": (record or {}).get("recorded_at") or moment,
            "checked_at": moment,
        },
    )
    if record is None:
        # a first start, or a folder left by a Segue from before the record: all there was to
        # check it by were its offsets
        checked = f"; the offsets of {len(reached)} partitions checked" if reached else ""
        log.info(
            "state in %s: recorded as cluster %s's (no record before%s)",
            folder,
            now.cluster_id or "?",
            checked,
        )
    return claim


# -- the folders of a deployment, and the reset ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateFolder:
    path: Path
    label: str  # "worker 0", "sink email 0", "sink-callbacks"


def state_folders(settings: Settings) -> list[StateFolder]:
    """The local state of this deployment (topic prefix and app id) under ``state_dir``: the
    workers' folders, the sinks' dedupe stores, the callbacks' seen receipts. Nothing else: the
    embedded broker's data (``kafka-PORT/``, ``broker-PORT.*``), the demo's folder and the file
    provider's outbox are not state of the worker or the sinks. The names are those
    app/worker/run.py (``state_dir_for``), app/sinks/worker.py (``store_path``) and
    app/sinks/callbacks.py (``seen_path``) give (tests/unit/test_incarnation.py holds them
    together)."""
    base = f"{settings.topic_prefix}{settings.app_id}"
    found = []
    root = settings.state_dir
    if not root.is_dir():
        return []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _label(path.name, base)
        if label is not None:
            found.append(StateFolder(path, label))
    return found


def _label(name: str, base: str) -> str | None:
    if name.startswith(f"{base}-runtime-") and len(name) > len(base) + 9:
        return f"worker {name[len(base) + 9 :]}"
    if name == f"{base}-callbacks":
        return "sink-callbacks"
    for channel in CHANNELS:
        head = f"{base}-sink-{channel}-"
        if name.startswith(head) and name.endswith("-dedupe") and len(name) > len(head) + 7:
            return f"sink {channel} {name[len(head) : -7]}"
    return None


def user_of(folder: Path) -> str | None:
    """Who is using ``folder`` now ("pid 123 (worker 0)", "a process that has RocksDB's lock on
    .../LOCK"), None if nobody."""
    owner = folder / OWNER_FILE
    if owner.exists():
        with _exclusive(owner) as free:
            if not free:
                text = owner.read_text(errors="replace").strip()
                pid, _, component = text.partition(" ")
                return f"{component or 'a process'} (pid {pid})" if pid else "a process"
    # a store opened by a process that takes no owner lock (a Segue from before it): RocksDB's
    # own lock, a POSIX record lock on LOCK, held while the store is open
    for lock in folder.rglob("LOCK"):
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return f"a process that has the store {lock.parent} open"
        finally:
            os.close(fd)  # drops our probe's lock as well
    return None


@contextlib.contextmanager
def _exclusive(owner: Path) -> Iterator[bool]:
    """Hold ``owner`` exclusively if nobody else holds it; yields whether we do."""
    fd = os.open(owner, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def reset(folders: Iterable[StateFolder]) -> list[StateFolder]:
    """Remove ``folders``, each while holding its owner lock exclusively (a process starting
    meanwhile is refused by ``Claim``); raises ``StateBusy`` naming the first in use, before
    anything is removed."""
    folders = list(folders)
    for folder in folders:
        user = user_of(folder.path)
        if user is not None:
            raise StateBusy(f"{user} is running on {folder.path}: stop it first")
    removed = []
    for folder in folders:
        owner = folder.path / OWNER_FILE
        if not owner.exists():
            shutil.rmtree(folder.path)
            removed.append(folder)
            continue
        with _exclusive(owner) as free:
            if not free:
                raise StateBusy(f"a process started on {folder.path} meanwhile: stop it first")
            shutil.rmtree(folder.path)
        removed.append(folder)
    return removed
