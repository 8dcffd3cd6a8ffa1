"""Consumer lag and the stall rule (app/runtime/lag.py): offsets and an injected clock in."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from app.runtime.lag import Recovered, StallDetector, Stalled, lag_of, resume_offset

P = ("events", 1)


def test_lag_is_the_end_offset_minus_the_committed_offset() -> None:
    assert lag_of(end=500, committed=120, low=0, position=300, pending=True) == 380
    # nothing committed yet: the group starts at the earliest offset, so all of it is lag
    assert lag_of(end=500, committed=-1001, low=40, position=None, pending=False) == 460
    # retention has passed the committed offset: those records are not coming back
    assert lag_of(end=500, committed=10, low=40, position=None, pending=False) == 460
    # an end sampled before the records read since: never negative
    assert lag_of(end=500, committed=520, low=0, position=520, pending=False) == 0


def test_a_transaction_marker_read_and_committed_past_is_no_lag() -> None:
    # records 0..4 and a commit marker at 5: the checkpoint committed 5 (last record + 1), the
    # consumer's position passed the marker (6), and the end offset is 6
    assert resume_offset(committed=5, low=0, position=6, pending=False) == 6
    assert lag_of(end=6, committed=5, low=0, position=6, pending=False) == 0
    # records read but not yet checkpointed: a restart would read them again, so they count
    assert lag_of(end=6, committed=2, low=0, position=6, pending=True) == 4


def samples(
    detector: StallDetector, rows: Sequence[tuple[float, int, int | None]]
) -> list[Stalled | Recovered]:
    events = []
    for now, lag, position in rows:
        event = detector.observe(now, P, lag, position)
        if event is not None:
            events.append(event)
    return events


def test_records_waiting_and_none_read_for_the_setting_is_one_stall_then_its_end() -> None:
    detector = StallDetector(stall_after_s=30)
    events = samples(
        detector,
        [
            (0, 0, 100),  # caught up
            (5, 40, 100),  # records arrive: the wait starts here, not at the idle sample
            (30, 900, 100),
            (35, 1_200, 100),  # waited 30 s: a stall
            (40, 1_500, 100),  # the same stall: not reported again
            (45, 1_800, 100),
            (50, 1_000, 900),  # reading again
        ],
    )
    assert events == [Stalled(P, 1_200, 30.0), Recovered(P, 1_000, 45.0, "reading")]
    assert detector.stalled == set()
    # a second episode is a second stall
    more = samples(detector, [(55, 1_000, 900), (90, 1_100, 900)])
    assert more == [Stalled(P, 1_100, 40.0)]  # none read since the sample at 50
    assert detector.stalled == {P}


def test_a_partition_that_reads_every_sample_or_has_nothing_waiting_never_stalls() -> None:
    detector = StallDetector(stall_after_s=10)
    busy = [(t * 5.0, 50_000, 1_000 * t) for t in range(100)]  # far behind, but reading
    idle = [(500 + t * 5.0, 0, 99_000) for t in range(100)]  # nothing read: nothing to read
    assert samples(detector, busy + idle) == []


def test_a_partition_never_read_since_its_assignment_stalls() -> None:
    detector = StallDetector(stall_after_s=10)
    events = samples(detector, [(0, 700, None), (5, 700, None), (10, 700, None)])
    assert events == [Stalled(P, 700, 10.0)]


def test_a_stall_ends_when_nothing_is_waiting_or_the_partition_is_revoked() -> None:
    detector = StallDetector(stall_after_s=10)
    samples(detector, [(0, 5, 7), (10, 5, 7)])
    assert detector.observe(12, P, 0, 7) == Recovered(P, 0, 12.0, "caught up")
    samples(detector, [(20, 5, 7), (30, 5, 7)])
    assert detector.forget(31, P) == Recovered(P, 0, 11.0, "revoked")
    assert detector.forget(32, ("events", 2)) is None  # not stalled: nothing to end
    assert detector.stalled == set()


@given(
    st.lists(
        st.tuples(st.floats(0, 20), st.integers(0, 3), st.integers(0, 2)),
        max_size=60,
    )
)
def test_stalls_and_their_ends_alternate_and_a_stall_needs_the_whole_wait(
    steps: list[tuple[float, int, int]],
) -> None:
    detector = StallDetector(stall_after_s=15)
    now, position, history = 0.0, 0, []
    stalled = False
    for gap, lag, moved in steps:
        now += gap
        position += moved
        history.append((now, lag, position))
        event = detector.observe(now, P, lag, position)
        if isinstance(event, Stalled):
            assert not stalled
            stalled = True
            # every sample of the last stall_after_s had records waiting at this position
            recent = [h for h in history if h[0] >= now - 15]
            assert all(lag > 0 and pos == position for _t, lag, pos in recent)
            assert event.seconds >= 15
        elif isinstance(event, Recovered):
            assert stalled
            stalled = False
        assert (P in detector.stalled) == stalled
