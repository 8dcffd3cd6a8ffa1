"""Which broker a state folder belongs to (app/incarnation.py): the comparison, the folders a
reset removes (and those it never touches), and a folder in use refusing the reset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.incarnation import (
    OWNER_FILE,
    RECORD_FILE,
    RESET_HINT,
    Claim,
    Incarnation,
    StateBusy,
    checked_by_offsets,
    incarnation_of,
    merged_topics,
    mismatch,
    refusal,
    reset,
    state_folders,
    user_of,
)
from app.settings import Settings
from app.sinks.callbacks import seen_path
from app.sinks.worker import store_path
from app.worker.run import state_dir_for

A = Incarnation("cluster-A", {"events": "id-e1", "actions.email": "id-a1"})


def test_the_same_broker_and_topics_match() -> None:
    assert mismatch(A, A, {("events", 0): 10}, {}) is None
    assert checked_by_offsets(A, A, {("events", 0): 10}) == set()


def test_another_cluster_is_another_broker() -> None:
    now = Incarnation("cluster-B", {"events": "id-e2", "actions.email": "id-a2"})
    assert (
        mismatch(A, now, {}, {}) == "belongs to another broker (cluster cluster-A, now cluster-B)"
    )


def test_a_topic_with_a_new_id_is_another_incarnation_of_it() -> None:
    now = Incarnation("cluster-A", {"events": "id-e1", "actions.email": "id-a2"})
    assert mismatch(A, now, {}, {}) == (
        "belongs to another incarnation of topic actions.email (topic id id-a1, now id-a2: "
        "the topic was deleted and created again)"
    )
    both = Incarnation("cluster-A", {"events": "id-e2", "actions.email": "id-a2"})
    found = mismatch(A, both, {}, {})
    assert found is not None and found.startswith("belongs to another incarnation of topic ")
    assert found.endswith("; 1 more topics too)")


def test_tansu_one_cluster_id_for_every_instance_its_topic_ids_tell() -> None:
    before = Incarnation("tansu_cluster", {"events": "AaJFmca/e4C6tJPmtp46Aw"})
    after = Incarnation("tansu_cluster", {"events": "AaJFmc6SetGcjBTnFEfQuw"})
    found = mismatch(before, after, {}, {})
    assert found is not None and "another incarnation of topic events" in found


def test_without_topic_ids_the_offsets_must_lie_within_the_topics_end() -> None:
    recorded = Incarnation("tansu_cluster", {"events": None})
    now = Incarnation("tansu_cluster", {"events": None})
    reached = {("events", 0): 326, ("events", 1): 5}
    assert checked_by_offsets(recorded, now, reached) == set(reached)
    # a reset broker: the topic ends at 0 (or wherever re-published traffic reached)
    assert mismatch(recorded, now, reached, {("events", 0): 0, ("events", 1): 5}) == (
        "is ahead of the broker (events[0] was read up to offset 325, the topic now ends at 0: "
        "the broker lost its data or the topic was created again)"
    )
    # a partition the broker does not have at all ends at 0
    assert mismatch(recorded, now, reached, {("events", 1): 5}) is not None
    # exactly at the end: everything read, nothing lost
    assert mismatch(recorded, now, reached, {("events", 0): 326, ("events", 1): 9}) is None


def test_a_folder_with_no_record_is_checked_by_its_offsets_alone() -> None:
    """A first start, or a folder left by a Segue from before the record."""
    reached = {("events", 0): 10}
    assert checked_by_offsets(None, A, reached) == set(reached)
    assert mismatch(None, A, reached, {("events", 0): 10}) is None
    found = mismatch(None, A, reached, {("events", 0): 3})
    assert found is not None and found.startswith("is ahead of the broker (events[0]")
    assert mismatch(None, A, {}, {}) is None  # nothing there at all: the first start


def test_a_topic_the_record_lacks_is_checked_by_offsets_and_ids_where_both_known() -> None:
    recorded = Incarnation("cluster-A", {"events": "id-e1"})  # before the actions topic mattered
    reached = {("events", 0): 10, ("actions.email", 2): 7}
    assert checked_by_offsets(recorded, A, reached) == {("actions.email", 2)}
    assert mismatch(recorded, A, reached, {("actions.email", 2): 7}) is None
    # the offsets of a topic whose id matches are not asked for: the id says it all
    assert mismatch(recorded, A, reached, {("actions.email", 2): 9}) is None


def test_the_refusal_is_one_line_naming_the_folder_and_the_command() -> None:
    line = refusal(Path(".state/segue-runtime-0"), "belongs to another broker (cluster X, now Y)")
    assert line == (
        "state in .state/segue-runtime-0 belongs to another broker (cluster X, now Y): run "
        "`segue state reset` to clear the worker's and the sinks' state"
    )
    assert "\n" not in line and line.endswith(RESET_HINT)


def test_a_record_reads_back_and_a_bad_one_counts_as_none(tmp_path: Path) -> None:
    record = {"cluster_id": "c", "topics": {"events": "x", "old": None}}
    assert incarnation_of(record) == Incarnation("c", {"events": "x", "old": None})
    assert incarnation_of({"topics": "nonsense"}) == Incarnation(None, {})
    assert incarnation_of(None) is None


# -- the folders -----------------------------------------------------------------------------------


def settings_in(tmp_path: Path, prefix: str = "p.") -> Settings:
    return Settings(state_dir=tmp_path / "state", topic_prefix=prefix)


def test_the_reset_takes_the_workers_and_the_sinks_folders_and_nothing_else(
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path)
    ours = [
        state_dir_for(settings, "0"),
        state_dir_for(settings, "1.0"),
        store_path(settings, "email", "0"),
        store_path(settings, "in_app", "2"),
        seen_path(settings),
    ]
    root = settings.state_dir
    theirs = [
        root / "kafka-19092",  # the embedded Kafka's data
        root / "demo",  # the demo's own state folder
        root / "outbox",  # the file provider's deliveries
        root / "other.segue-runtime-0",  # another deployment's worker
        root / "p.segue-sink-email-0",  # not a dedupe store
    ]
    for folder in ours + theirs:
        (folder / "sub").mkdir(parents=True)
    (root / "broker-19092.pid").write_text("1")
    (root / "broker-19092.log").write_text("log")
    found = state_folders(settings)
    assert sorted(f.path for f in found) == sorted(ours)
    assert {f.label for f in found} == {
        "worker 0",
        "worker 1.0",
        "sink email 0",
        "sink in_app 2",
        "sink-callbacks",
    }
    assert reset(found) == found
    assert not any(folder.exists() for folder in ours)
    assert all(folder.exists() for folder in theirs)
    assert (root / "broker-19092.pid").exists() and (root / "broker-19092.log").exists()


HOLD = """
import sys, time
from pathlib import Path
from app.incarnation import Claim
claim = Claim(Path(sys.argv[1]), "worker 7")
print("held", flush=True)
time.sleep(60)
"""


def test_a_folder_in_use_is_not_reset_and_a_dead_users_folder_is(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    worker = state_dir_for(settings, "7")
    sink = store_path(settings, "email", "0")
    sink.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(worker)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert user_of(worker) == f"worker 7 (pid {holder.pid})"
        with pytest.raises(StateBusy, match=rf"worker 7 \(pid {holder.pid}\) is running on "):
            reset(state_folders(settings))
        assert worker.exists() and sink.exists()  # nothing removed
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the lock with the process (SIGKILL): the folder is free
    assert user_of(worker) is None
    assert (worker / OWNER_FILE).exists()
    assert len(reset(state_folders(settings))) == 2
    assert not worker.exists() and not sink.exists()


def test_a_store_open_in_a_process_without_the_owner_lock_is_in_use(tmp_path: Path) -> None:
    """A Segue from before the owner lock: RocksDB's own lock tells."""
    settings = settings_in(tmp_path)
    folder = store_path(settings, "email", "0")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.sinks.dedupe import DedupeStore\n"
        "store = DedupeStore(Path(sys.argv[1]), 1000)\n"
        "print('open', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert user_of(folder) == f"a process that has the store {folder} open"
        with pytest.raises(StateBusy):
            reset(state_folders(settings))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    assert user_of(folder) is None


def test_a_start_during_a_reset_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    Claim(folder, "worker 0").release()
    import fcntl
    import os

    fd = os.open(folder / OWNER_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what reset holds while it removes
        with pytest.raises(StateBusy, match="is being reset"):
            Claim(folder, "worker 0")
    finally:
        os.close(fd)
    claim = Claim(folder, "worker 0")  # free again
    assert (folder / OWNER_FILE).read_text().startswith(f"{os.getpid()} worker 0")
    claim.release()
    assert not (folder / RECORD_FILE).exists()  # a claim alone records nothing


def test_two_claims_of_one_folder_may_coexist(tmp_path: Path) -> None:
    """A --processes parent killed, its children still stopping while the next start: shared."""
    first = Claim(tmp_path / "w", "worker 0.0")
    second = Claim(tmp_path / "w", "worker 0.0")  # not StateBusy
    assert user_of(tmp_path / "w") is not None
    first.release()
    second.release()
    assert user_of(tmp_path / "w") is None


def test_a_recorded_topic_id_is_kept_while_the_broker_has_none_for_it() -> None:
    recorded = Incarnation("c", {"receipts": "id-r1", "events": "id-e1"})
    gone = Incarnation("c", {"events": "id-e1", "actions.sms": None})  # receipts deleted
    merged = merged_topics(recorded, gone)
    assert merged == {"receipts": "id-r1", "events": "id-e1", "actions.sms": None}
    # created again later: another incarnation, which the next start sees
    back = Incarnation("c", {"receipts": "id-r2", "events": "id-e1"})
    found = mismatch(Incarnation("c", merged), back, {}, {})
    assert found is not None and "topic receipts (topic id id-r1, now id-r2" in found
    assert merged_topics(None, gone) == {"events": "id-e1", "actions.sms": None}
