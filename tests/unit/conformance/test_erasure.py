"""Erasure in stream order (core/erasure.py): what an ``ErasureRequested`` event does in replay,
with events before and after it. Expected sends by hand."""

from __future__ import annotations

from pathlib import Path

from tests.unit.conformance.harness import event, ok, replay, ts

NUDGE = """\
id: nudge
version: 1
trigger: {event: A}
steps:
  - {id: first, wait: 10m}
  - {id: hello, send: {channel: email, template: t}}
  - {id: later, wait: 1h}
  - {id: again, send: {channel: email, template: t2}}
"""
COUNTED = """\
id: counted
version: 1
trigger: {event: B, when: "profile.counts.A == 1"}
steps:
  - {id: s, send: {channel: push, template: p}}
"""


def test_what_is_due_by_the_request_fires_then_nothing_is_left(tmp_path: Path) -> None:
    events = [
        event("e1", "A", ts("10:00")),
        event("x", "ErasureRequested", ts("10:30"), request_id="r1"),
    ]
    run = ok(replay(tmp_path, [NUDGE], events, until=ts("13:00")))
    # hello (10:10) was due before the request; again (11:10) never comes
    assert run.sends() == [(ts("10:10"), "c1", "nudge", "hello")]


def test_events_after_the_request_start_a_fresh_profile_and_entry_history(
    tmp_path: Path,
) -> None:
    events = [
        event("e1", "A", ts("10:00")),
        event("x", "ErasureRequested", ts("10:05"), request_id="r1"),
        event("e2", "A", ts("11:00")),  # a new entry: the history went with the profile
        event("e3", "B", ts("11:30")),  # counts.A is 1 again, not 2
    ]
    run = ok(replay(tmp_path, [NUDGE, COUNTED], events, until=ts("14:00")))
    assert run.sends() == [
        (ts("11:10"), "c1", "nudge", "hello"),
        (ts("11:30"), "c1", "counted", "s"),
        (ts("12:10"), "c1", "nudge", "again"),
    ]
    entries = {a["entry"] for a in run.actions if a["journey"] == "nudge"}
    assert entries == {1}  # numbered from 1 again: a fresh history


def test_the_identity_links_go_too(tmp_path: Path) -> None:
    """Before the request an anonymous visitor with the customer's e-mail hash merges into
    them; after it, nothing links the hash to the customer any more."""
    linked = {"identifiers": {"email_hash": "ann@example.com"}}
    events = [
        {**event("e1", "Identify", ts("09:00")), "context": linked},
        event("x", "ErasureRequested", ts("09:30"), request_id="r1"),
        {**event("e2", "A", ts("10:00"), customer=None, anonymous="v-9"), "context": linked},
    ]
    run = ok(replay(tmp_path, [NUDGE], events, until=ts("11:00")))
    assert run.sends() == [(ts("10:10"), "v-9", "nudge", "hello")]  # stays anonymous
    before = [events[0], {**events[2], "event_id": "e3"}]
    kept = ok(replay(tmp_path / "kept", [NUDGE], before, until=ts("11:00")))
    assert kept.sends() == [(ts("10:10"), "c1", "nudge", "hello")]  # without it: linked


def test_without_identity_resolution_the_request_still_erases(tmp_path: Path) -> None:
    events = [event("e1", "A", ts("10:00")), event("x", "ErasureRequested", ts("10:05"))]
    run = ok(replay(tmp_path, [NUDGE], events, until=ts("13:00"), extra=("--no-identity",)))
    assert run.sends() == []
