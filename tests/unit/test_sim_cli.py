"""``segue simulate`` writes reproducible JSON lines with progress on stderr."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.envelope import InvalidEvent, decode_event
from app.core.timeutil import from_datetime, parse_rfc3339

_register()
runner = CliRunner()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_writes_the_requested_records_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = ["simulate", "--rate", "40", "--duration", "30", "--seed", "4"]
    result = runner.invoke(app, [*args, "--malformed-rate", "0.05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = _lines(out)
    assert len(lines) == 1200
    valid = rejected = 0
    for line in lines:
        try:
            decode_event(line)
            valid += 1
        except InvalidEvent:
            rejected += 1
    assert (valid, rejected) == (1140, 60)
    assert "1,200 records (1,140 valid, 60 malformed)" in result.stderr

    again = tmp_path / "again.jsonl"
    runner.invoke(app, [*args, "--malformed-rate", "0.05", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_stdout_and_start(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["simulate", "--rate", "2", "--duration", "5", "--start", "2027-01-01T00:00:00+01:00"],
    )
    assert result.exit_code == 0, result.output
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 10
    assert parse_rfc3339(events[0]["timestamp"]) >= parse_rfc3339("2026-12-31T23:00:00Z")


def test_start_now_uses_the_wall_clock() -> None:
    before = from_datetime(datetime.now(UTC))
    result = runner.invoke(app, ["simulate", "--rate", "1", "--duration", "3", "--start", "now"])
    assert result.exit_code == 0, result.output
    first = orjson.loads(result.stdout.splitlines()[0])
    assert parse_rfc3339(first["timestamp"]) >= before


def test_bad_arguments_fail_clearly() -> None:
    result = runner.invoke(app, ["simulate", "--rate", "1", "--duration", "3", "--start", "x"])
    assert result.exit_code != 0
    assert "RFC 3339" in result.output
    result = runner.invoke(app, ["simulate", "--rate", "0", "--duration", "3"])
    assert result.exit_code != 0
