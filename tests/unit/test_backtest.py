"""`segue backtest`: two journey folders replayed on the same events, joined send by send."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from app.report.diff import backtest_diff

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-23"


def journey(version: int, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "nudge",
        "version": version,
        "trigger": {"event": "CartAbandoned"},
        "goal": {"event": "OrderPlaced", "within": "1d"},
        "steps": steps,
        **extra,
    }


def write_journeys(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir()
    (folder / "nudge.yaml").write_text(yaml.safe_dump(doc))
    return folder


def event(n: int, etype: str, customer: str, clock: str) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "type": etype,
        "customer_id": customer,
        "timestamp": f"{DAY}T{clock}:00Z",
        "properties": {},
    }


def backtest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "backtest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_changed_template_and_a_new_step_show_up_send_by_send(tmp_path: Path) -> None:
    a = write_journeys(
        tmp_path / "a",
        journey(1, [{"id": "mail", "send": {"channel": "email", "template": "old"}}]),
    )
    b = write_journeys(
        tmp_path / "b",
        journey(
            2,
            [
                {"id": "mail", "send": {"channel": "email", "template": "new"}},
                {"id": "w", "wait": "1h"},
                {"id": "text", "send": {"channel": "sms", "template": "reminder"}},
            ],
        ),
    )
    events = [
        event(1, "CartAbandoned", "c-1", "10:00"),
        event(2, "CartAbandoned", "c-2", "10:00"),
        event(3, "OrderPlaced", "c-2", "10:30"),  # c-2 buys before the reminder
        event(4, "PageViewed", "c-3", "12:00"),
    ]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    args = ("--events", str(file), "--journeys", str(a), "--against", str(b))
    done = backtest(tmp_path, *args, "--out", str(tmp_path / "one"), "--until", f"{DAY}T18:00:00Z")
    assert done.returncode == 0, done.stderr
    assert "nudge: emitted A 2, B 3; only in A 0, only in B 1, changed 2" in done.stdout
    with (tmp_path / "one" / "diff.csv").open() as f:
        rows = list(csv.DictReader(f))
    got = [(r["change"], r["customer_id"], r["step"], r["fields"], r["b_template"]) for r in rows]
    assert got == [
        ("changed", "c-1", "mail", "template", "new"),
        ("only_in_b", "c-1", "text", "", "reminder"),  # c-1 did not buy: B reminds at 11:00
        ("changed", "c-2", "mail", "template", "new"),
    ]
    # conversions: the same behaviour on both sides, but A's entries end at their one send,
    # before c-2's purchase at 10:30 can count; B's wait keeps them open: 0 of 2 against 1 of 2
    outcomes = list(csv.DictReader((tmp_path / "one" / "diff_outcomes.csv").open()))
    assert [
        (r["entries_a"], r["conversions_a"], r["entries_b"], r["conversions_b"]) for r in outcomes
    ] == [("2", "0", "2", "1")]
    # deterministic: the same inputs give byte-identical files
    again = backtest(tmp_path, *args, "--out", str(tmp_path / "two"), "--until", f"{DAY}T18:00:00Z")
    assert again.returncode == 0, again.stderr
    for name in ("backtest.html", "backtest.json", "diff.csv", "diff_summary.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_a_policy_change_turns_sends_into_suppressions() -> None:
    def action(customer: str, step: str) -> dict[str, Any]:
        return {
            "action_id": f"{customer}-{step}",
            "customer_id": customer,
            "journey": "j",
            "journey_version": 1,
            "entry": 1,
            "step": step,
            "channel": "sms",
            "template": "t",
            "event_time": f"{DAY}T10:00:00Z",
            "context": {"visit": 1},
        }

    emitted = [action("c-1", "s"), action("c-2", "s")]
    capped = [
        action("c-1", "s"),
        {**action("c-2", "s"), "decision": "suppressed", "reason": "frequency_cap"},
    ]
    diff = backtest_diff((emitted, [], []), (capped[:1], capped[1:], []))
    assert [(r["change"], r["customer_id"], r["fields"], r["b_status"]) for r in diff.changes] == [
        ("changed", "c-2", "status", "suppressed:frequency_cap")
    ]
    assert (diff.summary[0]["emitted_a"], diff.summary[0]["emitted_b"]) == (2, 1)


def test_bad_journeys_on_either_side_stop_with_one_line(tmp_path: Path) -> None:
    a = write_journeys(
        tmp_path / "a", journey(1, [{"id": "mail", "send": {"channel": "email", "template": "x"}}])
    )
    b = tmp_path / "b"
    b.mkdir()
    (b / "nudge.yaml").write_text("id: nudge\nversion: 2\nsteps: []\n")
    file = tmp_path / "events.jsonl"
    file.write_bytes(orjson.dumps(event(1, "CartAbandoned", "c-1", "10:00")) + b"\n")
    done = backtest(tmp_path, "--events", str(file), "--journeys", str(a), "--against", str(b))
    assert done.returncode == 2
    assert "invalid definitions" in done.stderr and "Traceback" not in done.stderr
