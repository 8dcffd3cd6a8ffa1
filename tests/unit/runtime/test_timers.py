"""The runtime's timers: partition time, the schedule over its store, a rebuild after restart."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from app.runtime.store import PartitionStore
from app.runtime.timers import NEWEST_STEP_MS, PartitionTimers, partition_time


def test_partition_time_is_the_events_while_input_is_unread() -> None:
    assert partition_time(wall_ms=10_000, newest_event_ms=4_000, caught_up=True) == 10_000
    assert partition_time(wall_ms=10_000, newest_event_ms=4_000, caught_up=False) == 4_000
    # events ahead of the wall clock move the time on (the spec's live rule)
    assert partition_time(wall_ms=10_000, newest_event_ms=12_000, caught_up=True) == 12_000


def test_due_keys_come_earliest_first_and_are_unscheduled(tmp_path: Path) -> None:
    timers = PartitionTimers(PartitionStore(tmp_path / "due"))
    timers.schedule("b", 200)
    timers.schedule("a", 100)
    timers.schedule("c", 300)
    timers.schedule("c", 150)  # moved earlier
    timers.schedule("b", None)  # cancelled
    assert timers.next_due() == 100
    assert timers.take_due(160) == [("a", 100), ("c", 150)]
    assert timers.take_due(10_000) == []
    assert len(timers) == 0


def test_a_restart_rebuilds_the_schedule_and_the_newest_event_time(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "due")
    timers = PartitionTimers(store)
    timers.schedule("a", 5_000)
    timers.schedule("b", 7_000)
    timers.take_due(5_000)
    timers.saw(3 * NEWEST_STEP_MS)
    store.write(store.changes(), 0)  # the checkpoint
    store.close()
    rebuilt = PartitionTimers(PartitionStore(tmp_path / "due"))
    assert rebuilt.next_due() == 7_000
    assert rebuilt.newest == 3 * NEWEST_STEP_MS
    assert rebuilt.take_due(7_000) == [("b", 7_000)]


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 1_000))),
        max_size=40,
    ),
    st.integers(0, 1_000),
)
def test_take_due_returns_exactly_the_keys_whose_last_schedule_is_due(
    ops: list[tuple[str, int | None]], now: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        timers = PartitionTimers(PartitionStore(Path(folder) / "due"))
        last: dict[str, int | None] = {}
        for key, due in ops:
            timers.schedule(key, due)
            last[key] = due
        expected = sorted(
            ((k, d) for k, d in last.items() if d is not None and d <= now),
            key=lambda kd: (kd[1], kd[0]),
        )
        assert timers.take_due(now) == expected
