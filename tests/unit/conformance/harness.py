"""Drive ``segue replay`` through the real CLI with a journeys dir, events and policies built
in the test, and read back what it wrote. Expected outputs are derived by hand from the spec
(shared/spec/journeys.md), never from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from app.cli import _register, app

_register()
_runner = CliRunner()

DAY = "2026-03-02"  # a Monday, outside any DST change


def ts(clock: str, day: str = DAY, zone: str = "Z") -> str:
    """``"10:00"`` / ``"10:00:30"`` on ``day`` -> RFC 3339 text (UTC unless ``zone``)."""
    if clock.count(":") == 1:
        clock += ":00"
    return f"{day}T{clock}{zone}"


def event(
    eid: str,
    etype: str,
    when: str,
    customer: str | None = "c1",
    anonymous: str | None = None,
    **properties: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"event_id": eid, "type": etype, "timestamp": when}
    if customer is not None:
        obj["customer_id"] = customer
    if anonymous is not None:
        obj["anonymous_id"] = anonymous
    obj["properties"] = properties
    return obj


def unit(text: str) -> float:
    """The spec's draw: ``int(sha256(text).hexdigest()[:8], 16) / 2**32``."""
    return int(sha256(text.encode()).hexdigest()[:8], 16) / 2**32


@dataclass
class Run:
    code: int
    stderr: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    raw_actions: bytes = b""
    raw_decisions: bytes = b""

    def sends(self) -> list[tuple[str, str, str, str]]:
        """(event_time, customer_id, journey, step) of every emitted action, in file order."""
        return [(a["event_time"], a["customer_id"], a["journey"], a["step"]) for a in self.actions]

    def why(self) -> list[tuple[str, str, str, str, str]]:
        """(event_time, customer_id, step, decision, reason) of every decision line."""
        return [
            (d["event_time"], d["customer_id"], d["step"], d["decision"], d["reason"])
            for d in self.decisions
        ]


def replay(
    tmp_path: Path,
    journeys: dict[str, str] | list[str],
    events: list[dict[str, Any] | str | bytes],
    policies: str | None = None,
    until: str | None = None,
    extra: tuple[str, ...] = (),
) -> Run:
    """Write the inputs, run ``segue replay ... --decisions``, read the outputs."""
    folder = tmp_path / "journeys"
    folder.mkdir(parents=True, exist_ok=True)
    docs = (
        journeys
        if isinstance(journeys, dict)
        else {f"j{i}.yaml": d for i, d in enumerate(journeys)}
    )
    for name, text in docs.items():
        (folder / name).write_text(text)
    lines = []
    for e in events:
        if isinstance(e, dict):
            lines.append(orjson.dumps(e))
        else:
            lines.append(e.encode() if isinstance(e, str) else e)
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "actions.jsonl"
    dec = tmp_path / "decisions.jsonl"
    for path in (out, dec):
        path.unlink(missing_ok=True)
    args = ["replay", "--events", str(events_file), "--journeys", str(folder), "--out", str(out)]
    args += ["--decisions", str(dec)]
    if policies is not None:
        pfile = tmp_path / "policies.yaml"
        pfile.write_text(policies)
        args += ["--policies", str(pfile)]
    if until is not None:
        args += ["--until", until]
    result = _runner.invoke(app, [*args, *extra])
    run = Run(result.exit_code, result.stderr)
    if out.exists():
        run.raw_actions = out.read_bytes()
        run.actions = [orjson.loads(x) for x in run.raw_actions.splitlines()]
    if dec.exists():
        run.raw_decisions = dec.read_bytes()
        run.decisions = [orjson.loads(x) for x in run.raw_decisions.splitlines()]
    return run


def ok(run: Run) -> Run:
    assert run.code == 0, run.stderr
    return run
