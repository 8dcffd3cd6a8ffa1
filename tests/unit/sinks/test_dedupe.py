"""The dedupe store survives a reopen and forgets only what is older than its window."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.sinks.dedupe import PENDING, DedupeLog, DedupeStore, why_deduplicated


def test_outcomes_survive_a_reopen_and_receipts_are_marked(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d", retention_ms=1_000)
    store.put("a1", PENDING, 10)
    store.put("a1", "sent", 11)
    store.put("a2", "failed", 12, reason="HTTP 400")
    store.mark_receipted("a2")
    store.mark_receipted("missing")  # no record: nothing happens
    store.close()
    again = DedupeStore(tmp_path / "d", retention_ms=1_000)
    assert again.get("a1") == {"s": "sent", "at": 11, "r": False}
    assert again.get("a2") == {"s": "failed", "at": 12, "r": True, "why": "HTTP 400"}
    assert again.get("missing") is None
    again.close()


def test_purge_forgets_only_ids_older_than_the_retention(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d", retention_ms=100)
    for i in range(10):
        store.put(f"a{i}", "sent", i * 20)  # 0, 20, ..., 180
    assert store.purge(now_ms=200) == 5  # at < 100 go
    assert [store.get(f"a{i}") is not None for i in range(10)] == [False] * 5 + [True] * 5
    store.close()


def test_an_erasure_forgets_only_the_customers_actions_and_receipts_keep_the_owner(
    tmp_path: Path,
) -> None:
    store = DedupeStore(tmp_path / "d", retention_ms=1_000)
    store.put("a1", "sent", 1, customer="ann")
    store.put("a2", "failed", 2, reason="x", customer="ann")
    store.put("b1", "sent", 3, customer="bob")
    store.put("old", "sent", 4)  # written before owners were kept: left to the retention
    store.mark_receipted("a1")
    assert store.get("a1") == {"s": "sent", "at": 1, "r": True, "c": "ann"}
    assert store.forget_customer("ann") == 2
    assert [store.get(k) is not None for k in ("a1", "a2", "b1", "old")] == [
        False,
        False,
        True,
        True,
    ]
    assert store.forget_customer("ann") == 0
    store.close()


def test_committed_offsets_are_kept_as_the_furthest_and_are_not_actions(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d", retention_ms=100)
    store.put("a1", "sent", 0, customer="ann")
    store.committed("actions.email", {0: 5, 1: 3})
    store.committed("actions.email", {0: 2, 2: 9})  # a partition back from another owner
    store.close()
    again = DedupeStore(tmp_path / "d", retention_ms=100)
    assert again.reached() == {
        ("actions.email", 0): 5,
        ("actions.email", 1): 3,
        ("actions.email", 2): 9,
    }
    # the bookkeeping is no action: neither purged nor erased
    assert again.purge(now_ms=10_000) == 1
    assert again.forget_customer("ann") == 0
    assert again.reached()[("actions.email", 2)] == 9
    again.close()


def test_every_dedupe_is_logged_with_its_reason_then_counted_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dedupes = DedupeLog("email", logging.getLogger("test.dedupe"), lines=2, window_ms=1_000)
    record = {"s": "sent", "at": 1_795_000_000_000, "r": True}
    with caplog.at_level(logging.INFO, logger="test.dedupe"):
        for n in range(5):
            dedupes.note(f"a{n}", f"c-{n}", why_deduplicated(record), now_ms=100 + n)
        dedupes.flush(now_ms=900)  # the window is not over: nothing yet
        assert len(caplog.messages) == 2
        dedupes.flush(now_ms=1_200)
        dedupes.note("a9", "c-9", why_deduplicated(record, elsewhere=True), now_ms=1_300)
        dedupes.note("a10", "c-10", "x", now_ms=1_301)
        dedupes.note("a11", "c-11", "x", now_ms=1_302)
        dedupes.flush(now_ms=1_400, final=True)  # the sink stops
    assert caplog.messages == [
        "email: action a0 for customer c-0 not delivered again: already sent at "
        "2026-11-18T11:06:40Z",
        "email: action a1 for customer c-1 not delivered again: already sent at "
        "2026-11-18T11:06:40Z",
        "email: 3 more actions not delivered again in the last 1 s (already delivered; "
        "segue_sink_deduplicated_total counts them all)",
        "email: action a9 for customer c-9 not delivered again: already sent by the "
        "partition's previous owner (its receipt is on the broker)",
        "email: action a10 for customer c-10 not delivered again: x",
        "email: 1 more actions not delivered again in the last 1 s (already delivered; "
        "segue_sink_deduplicated_total counts them all)",
    ]


def test_a_failed_outcome_says_why_it_is_not_tried_again() -> None:
    record = {"s": "failed", "at": 0, "r": True, "why": "HTTP 400"}
    assert why_deduplicated(record) == "already failed at 1970-01-01T00:00:00Z (HTTP 400)"
