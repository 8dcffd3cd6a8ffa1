"""The dedupe store survives a reopen and forgets only what is older than its window."""

from __future__ import annotations

from pathlib import Path

from app.sinks.dedupe import PENDING, DedupeStore


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
