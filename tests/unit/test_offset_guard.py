"""The offset guard's bookkeeping: in-order records pass, copies are skipped, gaps rewind."""

from __future__ import annotations

import pytest

from app.stream import offset_guard
from app.stream.offset_guard import OffsetGuard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(committed: dict[str, int], ready: list[bool] | None = None) -> tuple[OffsetGuard, Clock]:
    clock = Clock()
    state = ready if ready is not None else [True]
    return OffsetGuard("test", committed.get, lambda: state[0], clock), clock


def test_records_in_order_from_the_committed_offset_pass() -> None:
    g, _ = guard({"p0": 10})
    assert [g.admit("p0", o) for o in (10, 11, 12)] == [True, True, True]
    assert g.take_rewinds() == {}


def test_copies_of_processed_records_are_skipped() -> None:
    g, _ = guard({"p0": 10})
    assert g.admit("p0", 10) and g.admit("p0", 11)
    assert not g.admit("p0", 10)
    assert not g.admit("p0", 9)  # before the committed offset: processed by an earlier run
    assert g.admit("p0", 12)


def test_a_gap_holds_the_rest_of_the_partition_and_rewinds_once() -> None:
    g, _ = guard({"p0": 10, "p1": 5})
    assert g.admit("p0", 10)
    assert not g.admit("p0", 13)  # 11 and 12 missing
    assert not g.admit("p0", 14)
    assert g.admit("p1", 5)  # other partitions go on
    assert g.take_rewinds() == {"p0": 11}
    assert g.take_rewinds() == {}
    assert [g.admit("p0", o) for o in (11, 12, 13, 14)] == [True] * 4


def test_the_first_record_after_a_start_must_be_the_committed_one() -> None:
    g, _ = guard({"p0": 142})
    assert not g.admit("p0", 144)
    assert g.take_rewinds() == {"p0": 142}


def test_old_fetch_records_after_a_rewind_do_not_rewind_again_at_once() -> None:
    g, clock = guard({"p0": 0})
    assert not g.admit("p0", 3)
    assert g.take_rewinds() == {"p0": 0}
    assert not g.admit("p0", 4)  # still draining the old fetch
    assert g.take_rewinds() == {}
    clock.now += offset_guard.REWIND_INTERVAL_S
    assert not g.admit("p0", 5)  # the gap is still there: ask again
    assert g.take_rewinds() == {"p0": 0}


def test_a_gap_that_persists_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offset_guard, "MAX_REWINDS", 2)
    g, clock = guard({"p0": 0})
    for _ in range(2):
        assert not g.admit("p0", 3)
        assert g.take_rewinds() == {"p0": 0}
        clock.now += offset_guard.REWIND_INTERVAL_S
    assert g.admit("p0", 3)  # a real gap (compaction): taken as it is
    assert g.admit("p0", 4)


def test_records_before_the_seek_are_held_and_asked_again_from_the_committed_offset() -> None:
    committed: dict[str, int] = {}
    ready = [False]
    g, _ = guard(committed, ready)
    assert not g.admit("p0", 150)
    assert not g.admit("p0", 151)
    assert g.take_rewinds() == {}  # not sought yet: nothing to ask
    committed["p0"] = 142
    ready[0] = True
    assert g.take_rewinds() == {"p0": 142}
    assert g.admit("p0", 142)


def test_a_new_generation_forgets_the_partitions() -> None:
    g, _ = guard({"p0": 10})
    g.follow(1)
    assert g.admit("p0", 10) and g.admit("p0", 11)
    g.follow(2)
    assert g.admit("p0", 10)  # the committed offset is the truth again
