"""``segue explain ID --events ...``: the replay form of the command, end to end (no broker)."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.journeys.hashing import action_id
from tests.unit.test_explain import CART_DOC

_register()
runner = CliRunner()


def ev(eid: str, etype: str, clock: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": eid,
        "type": etype,
        "timestamp": f"2026-03-02T{clock}:00Z",
        "properties": {},
        **fields,
    }


def files(tmp_path: Path) -> list[str]:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "cart.yaml").write_text(yaml.safe_dump(CART_DOC, sort_keys=False))
    policies = tmp_path / "policies.yaml"
    policies.write_text("frequency_caps:\n  - {channel: any, max: 1, per: 2h}\n")
    events = [
        ev(
            "e-id",
            "Identify",
            "09:00",
            customer_id="ann",
            context={"identifiers": {"email_hash": "ann@example.com"}},
        ),
        ev("e-consent", "ConsentUpdated", "10:00", customer_id="ann"),
        ev("e-cart", "CartAbandoned", "10:05", customer_id="ann"),
        ev("e-view", "PageViewed", "11:30", customer_id="ann"),
        ev("x-cart", "CartAbandoned", "10:05", customer_id="bob"),
    ]
    events[1]["properties"] = {"channel": "sms", "granted": False}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in reversed(events)))
    return [
        *("--events", str(path), "--journeys", str(journeys)),
        *("--policies", str(policies), "--until", "2026-03-02T12:00:00Z"),
    ]


def test_explain_from_a_replay_as_text(tmp_path: Path) -> None:
    done = runner.invoke(app, ["explain", "ann", *files(tmp_path)])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "customer ann: from a replay, as of 2026-03-02T12:00:00Z"
    assert lines[3:7] == [
        "  sms cart_sms: suppressed (consent) at 2026-03-02T10:05:00Z (cart v2 entry 1, step nudge)",
        "  email cart_reminder: sent at 2026-03-02T10:05:00Z (cart v2 entry 1, step remind)",
        "  push last_call: suppressed (frequency_cap) at 2026-03-02T11:05:00Z "
        "(cart v2 entry 1, step last_call)",
        "  email final_offer: not yet, due 2026-03-03T11:05:00Z when the wait pause ends "
        "(cart v2 entry 1, step final)",
    ]
    assert "cart v2 entry 1: active, at pause" in lines
    sent_id = action_id("cart", 2, "ann", 1, "remind", 1)
    assert (
        f"  2026-03-02T10:05:00Z  sent email cart_reminder at step remind [action {sent_id}]"
        "  <- CartAbandoned e-cart"
    ) in lines


def test_explain_from_a_replay_as_json_by_any_identifier(tmp_path: Path) -> None:
    args = files(tmp_path)
    for who in ("ann", "email_hash:ann@example.com"):
        done = runner.invoke(app, ["explain", who, *args, "--json"])
        assert done.exit_code == 0, done.output
        doc = orjson.loads(done.stdout)
        assert (doc["customer_id"], doc["requested_as"]) == ("ann", who)
        (cart,) = doc["journeys"]
        (entry,) = cart["entries"]
        assert (entry["status"], entry["step"], entry["timer"]["due"]) == (
            "active",
            "pause",
            "2026-03-03T11:05:00Z",
        )
        assert [(d["kind"], d.get("reason")) for d in entry["decisions"]] == [
            ("entered", None),
            ("suppressed", "consent"),
            ("sent", None),
            ("timed_out", None),
            ("suppressed", "frequency_cap"),
        ]


def test_explain_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    args = files(tmp_path)
    nobody = runner.invoke(app, ["explain", "nobody", *args])
    assert nobody.exit_code == 1 and "no customer for 'nobody'" in nobody.output
    without = runner.invoke(app, ["explain", "ann", *args[:2]])
    assert without.exit_code == 2 and "--events needs --journeys" in without.output
    early = runner.invoke(app, ["explain", "ann", *args[:6], "--until", "2026-03-02T11:00:00Z"])
    assert early.exit_code == 2 and "--until" in early.output
    live_only = runner.invoke(app, ["explain", "ann", "--until", "2026-03-02T11:00:00Z"])
    assert live_only.exit_code == 2 and "go with --events" in live_only.output
