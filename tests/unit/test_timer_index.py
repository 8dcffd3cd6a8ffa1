"""The in-memory index of due timers that the ticker scans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.stream.timer_index import TimerIndex, clock_key


def index_with(
    timers: list[tuple[int, str, int]], partitions: tuple[int, ...] = (0, 1)
) -> TimerIndex:
    index = TimerIndex(resend_after_s=5.0)
    index.reset(partitions, timers)
    return index


def test_due_timers_tick_once_in_due_order_per_partition() -> None:
    index = index_with([(0, "b", 200), (0, "a", 100), (1, "c", 150), (0, "d", 999)])
    ticks = index.due_ticks(wall_ms=300, mono_s=0.0)
    assert [(t.partition, t.key, t.due) for t in ticks] == [
        (0, "a", 100),
        (0, "b", 200),
        (1, "c", 150),
    ]
    assert all(t.now == 300 for t in ticks)
    assert index.due_ticks(wall_ms=300, mono_s=1.0) == []  # in flight: not again
    assert index.backlog() == 3


def test_an_unhandled_tick_is_sent_again_after_the_resend_delay() -> None:
    index = index_with([(0, "a", 100)])
    assert len(index.due_ticks(300, mono_s=0.0)) == 1
    assert [t.key for t in index.due_ticks(300, mono_s=6.0)] == ["a"]
    index.set(0, "a", None)  # the agent handled it: no timer left
    assert index.due_ticks(300, mono_s=20.0) == []
    assert index.backlog() == 0


def test_ticks_queued_behind_a_moving_backlog_are_not_sent_again() -> None:
    index = index_with([(0, "a", 100), (0, "b", 100), (0, "c", 100), (1, "d", 100)])
    assert len(index.due_ticks(300, mono_s=0.0)) == 4
    index.set(0, "a", None)  # partition 0's agent is working through its ticks
    assert index.due_ticks(300, mono_s=4.0) == []
    # 6 s after sending: partition 0 moved 2 s ago (b, c wait in its queue); 1 stalled
    assert [t.key for t in index.due_ticks(300, mono_s=6.0)] == ["d"]
    index.set(0, "b", None)
    assert index.due_ticks(300, mono_s=9.5) == []  # it moved again at 9.5
    # no progress for the resend delay: c may have been lost, send it again (d: still stalled)
    assert sorted(t.key for t in index.due_ticks(300, mono_s=15.0)) == ["c", "d"]


def test_partition_time_is_the_later_of_wall_clock_and_newest_event() -> None:
    index = index_with([(0, "a", 5_000), (1, "b", 5_000)])
    index.saw_event(0, 6_000)
    ticks = index.due_ticks(wall_ms=1_000, mono_s=0.0)
    assert [(t.key, t.now) for t in ticks] == [("a", 6_000)]


def test_a_moved_timer_replaces_the_old_one() -> None:
    index = index_with([(0, "a", 100)])
    index.set(0, "a", 500)
    assert index.due_ticks(300, 0.0) == []
    assert [t.due for t in index.due_ticks(600, 0.0)] == [500]


def test_only_owned_partitions_are_indexed_and_clock_keys_restore_partition_time() -> None:
    index = index_with([(0, "a", 100), (2, "x", 100), (1, clock_key(1), 9_000)])
    assert index.partitions == {0, 1}
    index.set(2, "y", 50)  # not ours: ignored
    assert index.pending() == 1
    assert index.partition_time(1, wall_ms=10) == 9_000


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 1_000) | st.none())))
def test_the_ticks_are_exactly_the_due_current_timers(
    updates: list[tuple[str, int | None]],
) -> None:
    index = index_with([])
    current: dict[str, int] = {}
    for key, due in updates:
        index.set(0, key, due)
        if due is None:
            current.pop(key, None)
        else:
            current[key] = due
    ticks = index.due_ticks(wall_ms=500, mono_s=0.0)
    assert sorted((t.key, t.due) for t in ticks) == sorted(
        (k, d) for k, d in current.items() if d <= 500
    )
    assert [t.due for t in ticks] == sorted(t.due for t in ticks)


def test_a_big_catch_up_is_fed_in_slices_of_the_in_flight_bound() -> None:
    timers = [(i % 2, f"k{i}", 100 + i) for i in range(25)]
    index = TimerIndex(resend_after_s=5.0, max_in_flight=10)
    index.reset((0, 1), timers)
    first = index.due_ticks(wall_ms=1_000, mono_s=0.0)
    assert len(first) == 10 and index.backlog() == 10
    assert index.due_ticks(wall_ms=1_000, mono_s=0.1) == []  # full: nothing more yet
    for t in first[:4]:
        index.set(t.partition, t.key, None)  # the agent handled four
    second = index.due_ticks(wall_ms=1_000, mono_s=0.2)
    assert len(second) == 4
    sent = {t.key for t in first + second}
    while len(sent) < 25:  # handling everything in flight drains the rest, each key once
        for key in list(index._inflight):
            index.set(int(index._inflight[key][0]), key, None)
        more = index.due_ticks(wall_ms=1_000, mono_s=0.3)
        assert not sent & {t.key for t in more}
        sent |= {t.key for t in more}
    for key in list(index._inflight):
        index.set(int(index._inflight[key][0]), key, None)
    assert index.pending() == 0 and index.backlog() == 0
