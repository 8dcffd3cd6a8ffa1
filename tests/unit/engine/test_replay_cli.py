"""``segue replay`` as the spec's Replay section and Edge rules say, through the real CLI."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import _register, app

_register()
runner = CliRunner()

JOURNEY = """\
id: nudge
version: 2
trigger: {event: CartAbandoned}
steps:
  - id: first
    send: {channel: email, template: cart}
  - id: later
    wait: 1h
  - id: second
    send: {channel: sms, template: cart_sms}
"""


def envelope(eid: str, etype: str, ts: str, customer: str | None = "c-1", **extra: object) -> bytes:
    obj: dict[str, object] = {"event_id": eid, "type": etype, "timestamp": ts, "properties": {}}
    if customer is not None:
        obj["customer_id"] = customer
    obj.update(extra)
    return orjson.dumps(obj)


@pytest.fixture
def journeys(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "nudge.yaml").write_text(JOURNEY)
    return folder


def replay(tmp_path: Path, journeys: Path, lines: list[bytes], *extra: str):  # type: ignore[no-untyped-def]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "actions.jsonl"
    args = ["replay", "--events", str(events), "--journeys", str(journeys), "--out", str(out)]
    result = runner.invoke(app, [*args, *extra])
    return result, out


def read(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_writes_actions_in_order_and_exits_0(tmp_path: Path, journeys: Path) -> None:
    lines = [
        envelope("e-2", "CartAbandoned", "2026-11-23T10:00:00Z", "c-2"),
        envelope("e-1", "CartAbandoned", "2026-11-23T10:00:00+01:00", "c-1"),  # 09:00 UTC
    ]
    result, out = replay(tmp_path, journeys, lines, "--until", "2026-11-23T12:00:00Z")
    assert result.exit_code == 0, result.output
    got = [(a["event_time"], a["customer_id"], a["step"]) for a in read(out)]
    assert got == [
        ("2026-11-23T09:00:00Z", "c-1", "first"),
        ("2026-11-23T10:00:00Z", "c-1", "second"),
        ("2026-11-23T10:00:00Z", "c-2", "first"),
        ("2026-11-23T11:00:00Z", "c-2", "second"),
    ]
    assert all(a["decided_at"] == a["event_time"] for a in read(out))


def test_without_until_timers_fire_up_to_the_last_event(tmp_path: Path, journeys: Path) -> None:
    lines = [
        envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z", "c-1"),
        envelope("e-2", "PageViewed", "2026-11-23T10:00:00Z", "c-2"),  # another customer
    ]
    result, out = replay(tmp_path, journeys, lines)
    assert result.exit_code == 0
    assert [a["step"] for a in read(out)] == ["first", "second"]  # due 10:00 <= last event


def test_until_earlier_than_the_last_event_is_an_error(tmp_path: Path, journeys: Path) -> None:
    lines = [envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z")]
    result, out = replay(tmp_path, journeys, lines, "--until", "2026-11-23T08:00:00Z")
    assert result.exit_code == 2
    assert "--until" in result.output
    assert not out.exists()


def test_malformed_lines_are_reported_with_their_number_and_skipped(
    tmp_path: Path, journeys: Path
) -> None:
    lines = [
        envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z"),
        b"",  # blank lines are ignored
        b"{not json",
        envelope("e-3", "CartAbandoned", "2026-11-23T09:00:00", "c-3"),  # no zone
        envelope("e-4", "CartAbandoned", "2026-11-23T09:00:00Z", None),  # no id
        b"   ",
        envelope("e-6", "CartAbandoned", "2026-11-23T09:00:00Z", None, anonymous_id="anon-6"),
    ]
    result, out = replay(tmp_path, journeys, lines)
    assert result.exit_code == 1
    for number in (3, 4, 5):
        assert f":{number}: skipped" in result.output
    assert ":2:" not in result.output and ":6:" not in result.output
    # an anonymous-only event is handled under its anonymous id
    assert [(a["customer_id"], a["step"]) for a in read(out)] == [
        ("anon-6", "first"),
        ("c-1", "first"),
    ]


def test_invalid_journeys_exit_2_with_the_validation_messages(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.yaml").write_text("id: Broken\nversion: 0\nsteps: []\n")
    result, out = replay(tmp_path, folder, [envelope("e-1", "X", "2026-11-23T09:00:00Z")])
    assert result.exit_code == 2
    assert "broken.yaml" in result.output
    assert not out.exists()


def test_invalid_policies_exit_2(tmp_path: Path, journeys: Path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text("frequency_caps: [{channel: pigeon, max: -1, per: soon}]\n")
    lines = [envelope("e-1", "X", "2026-11-23T09:00:00Z")]
    result, _ = replay(tmp_path, journeys, lines, "--policies", str(policies))
    assert result.exit_code == 2
    assert "policies.yaml" in result.output


def test_decisions_file_lists_suppressed_sends_with_reasons(tmp_path: Path, journeys: Path) -> None:
    decisions = tmp_path / "decisions.jsonl"
    lines = [
        envelope(
            "e-0",
            "ConsentUpdated",
            "2026-11-23T08:00:00Z",
            properties={"channel": "sms", "granted": False},
        ),
        envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z"),
    ]
    result, _ = replay(
        tmp_path, journeys, lines, "--until", "2026-11-23T12:00:00Z", "--decisions", str(decisions)
    )
    assert result.exit_code == 0
    (d,) = read(decisions)
    assert (d["step"], d["decision"], d["reason"]) == ("second", "suppressed", "consent")
    assert set(d) >= {"action_id", "journey", "journey_version", "channel", "event_time"}


def test_output_is_byte_identical_for_any_line_order(tmp_path: Path, journeys: Path) -> None:
    lines = [
        envelope(f"e-{i}", "CartAbandoned", f"2026-11-23T{9 + i % 3:02d}:00:00Z", f"c-{i % 4}")
        for i in range(12)
    ] + [envelope("e-x", "PageViewed", "2026-11-23T09:00:00Z", "c-1")]
    outputs = set()
    for seed in range(4):
        shuffled = lines[:]
        random.Random(seed).shuffle(shuffled)
        result, out = replay(tmp_path, journeys, shuffled, "--until", "2026-11-24T00:00:00Z")
        assert result.exit_code == 0
        outputs.add(out.read_bytes())
    assert len(outputs) == 1
    assert outputs.pop().count(b"\n") > 0


def test_equal_timestamps_are_ordered_by_event_id(tmp_path: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    # The first event (by id) starts the entry; the other one at the same time is ignored.
    folder = tmp_path / "j"
    folder.mkdir()
    (folder / "j.yaml").write_text(
        "id: j\nversion: 1\ntrigger: {event: Go}\nsteps:\n"
        "  - id: s\n    send: {channel: email, template: t}\n  - id: w\n    wait: 1h\n"
    )
    lines = [
        envelope("e-b", "Go", "2026-11-23T09:00:00Z"),
        envelope("e-a", "Go", "2026-11-23T09:00:00Z"),
    ]
    result, out = replay(tmp_path, folder, lines)
    assert result.exit_code == 0
    assert [a["trigger_event_id"] for a in read(out)] == ["e-a"]


def test_copies_of_an_event_are_dropped_and_counted_in_the_summary(
    tmp_path: Path, journeys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cart = envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z")
    lines = [cart, envelope("e-2", "CartAbandoned", "2026-11-23T09:00:00Z", "c-2"), cart, cart]
    result, out = replay(tmp_path, journeys, lines, "--until", "2026-11-23T12:00:00Z")
    assert result.exit_code == 0, result.output
    assert "2 duplicates dropped" in result.output
    assert sorted((a["customer_id"], a["step"]) for a in read(out)) == [
        ("c-1", "first"),
        ("c-1", "second"),
        ("c-2", "first"),
        ("c-2", "second"),
    ]
    # the worker's setting applies to replay too: a window of 0s drops nothing
    monkeypatch.setenv("SEGUE_DUPLICATE_WINDOW", "0s")
    result, _ = replay(tmp_path, journeys, lines, "--until", "2026-11-23T12:00:00Z")
    assert "0 duplicates dropped" in result.output


def test_unreadable_events_or_unwritable_output_exit_2(tmp_path: Path, journeys: Path) -> None:
    args = ["replay", "--journeys", str(journeys), "--out", str(tmp_path / "no" / "a.jsonl")]
    missing = runner.invoke(app, [*args, "--events", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 2
    events = tmp_path / "e.jsonl"
    events.write_bytes(envelope("e-1", "CartAbandoned", "2026-11-23T09:00:00Z") + b"\n")
    unwritable = runner.invoke(app, [*args, "--events", str(events)])
    assert unwritable.exit_code == 2
    assert f"the folder {tmp_path / 'no'} does not exist" in unwritable.output


def test_a_saved_tail_of_the_events_topic_replays_as_its_envelopes(
    tmp_path: Path, journeys: Path
) -> None:
    plain = [
        envelope("e1", "CartAbandoned", "2026-03-02T10:00:00Z"),
        envelope("e2", "CartAbandoned", "2026-03-02T10:30:00Z", customer="c-2"),
    ]
    tailed = [
        orjson.dumps(
            {
                "topic": "segue.events",
                "partition": n % 2,
                "offset": n,
                "timestamp_ms": 1,
                "key": orjson.loads(line)["customer_id"],
                "value": orjson.loads(line),
            }
        )
        for n, line in enumerate(plain)
    ]
    until = ("--until", "2026-03-02T12:00:00Z")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, out_plain = replay(tmp_path / "a", journeys, plain, *until)
    second, out_tailed = replay(tmp_path / "b", journeys, tailed, *until)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert out_tailed.read_bytes() == out_plain.read_bytes()
    assert len(read(out_tailed)) == 4  # two customers, two sends each


def test_timers_pending_at_the_end_are_counted_with_how_to_fire_them(
    tmp_path: Path, journeys: Path
) -> None:
    lines = [
        envelope("e1", "CartAbandoned", "2026-03-02T10:00:00Z"),
        envelope("e2", "CartAbandoned", "2026-03-02T10:30:00Z", customer="c-2"),
    ]
    result, out = replay(tmp_path, journeys, lines)
    assert result.exit_code == 0, result.output
    assert [a["step"] for a in read(out)] == ["first", "first"]  # the waits end after 10:30
    assert (
        "2 timers still pending at 2026-03-02T10:30:00Z (the last event's time), "
        "due 2026-03-02T11:00:00Z to 2026-03-02T11:30:00Z; "
        "run with --until 2026-03-02T11:30:00Z (or later) to fire them"
    ) in result.output
    fired, out = replay(tmp_path, journeys, lines, "--until", "2026-03-02T11:30:00Z")
    assert [a["step"] for a in read(out)] == ["first", "first", "second", "second"]
    assert "still pending" not in fired.output
