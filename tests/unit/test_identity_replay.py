"""Replay with identity resolution (``replay_resolved`` and ``segue replay --identity``)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.envelope import validate_event
from app.core.identity import IdentityConfig
from app.core.identity_merge import fold_in, retire
from app.core.identity_replay import replay_resolved
from app.core.journeys.replay import dump_lines, replay
from app.core.profile import fold, new_profile
from app.core.timeutil import format_ms
from tests.unit.test_identity_stream import random_stream
from tests.unit.test_journey_agent import T0, TEST_JOURNEYS, engine

_register()  # attaches every command to ``app``
runner = CliRunner()
CONFIG = IdentityConfig()


def ev(i: int, etype: str, customer: str | None, anonymous: str | None, **props: Any) -> dict:
    raw: dict[str, Any] = {
        "event_id": f"r-{i:03d}",
        "type": etype,
        "timestamp": format_ms(T0 + i * 1000),
        "properties": props,
    }
    if customer:
        raw["customer_id"] = customer
    if anonymous:
        raw["anonymous_id"] = anonymous
    return raw


def visitor_then_login() -> list[dict[str, Any]]:
    """An anonymous visitor abandons a cart (the cart journey starts under the anonymous id),
    then logs in before its first send: the entry carries over to the customer."""
    return [
        ev(0, "PageViewed", None, "a-1"),
        ev(1, "CartAbandoned", None, "a-1", cart_value=50.0),
        ev(2, "Identify", "c-1", "a-1", email="c@x"),
        ev(3, "PageViewed", None, "a-1"),
    ]


def test_a_linked_visitor_merges_and_its_journey_continues_as_the_customer() -> None:
    events = [validate_event(e) for e in visitor_then_login()]
    until = T0 + 60_000
    result, identity, states = replay_resolved(events, engine(), CONFIG, until, None, True)
    assert set(states) == {"c-1"}
    assert identity.merges == [("a-1", "c-1", events[2]["ts"])]
    assert states["c-1"][0]["counts"] == {"PageViewed": 2, "CartAbandoned": 1, "Identify": 1}
    cart = [a for a in result.actions if a["journey"] == "cart"]
    assert cart and {a["customer_id"] for a in cart} == {"c-1"}
    # without identity, the same events keep the visitor apart and the journey acts for it
    plain = replay([validate_event(e) for e in visitor_then_login()], engine(), until)
    assert {a["customer_id"] for a in plain.actions if a["journey"] == "cart"} == {"a-1"}


def test_the_merge_is_retire_then_fold_in_after_the_claiming_event() -> None:
    """The replay's merge equals the two core steps run by hand in the live order."""
    events = [validate_event(e) for e in visitor_then_login()]
    e = engine()
    anon = (new_profile("a-1"), e.new_state("a-1"))
    cust = (new_profile("c-1"), e.new_state("c-1"))
    for event in events[:2]:
        e.handle_event(*anon, event)
    e.handle_event(*cust, events[2])
    at = events[2]["ts"]
    retire(e, *anon, at)
    fold_in(e, *cust, *anon, at)
    e.handle_event(*cust, {**events[3], "key": "c-1"})
    _, _, states = replay_resolved(events, engine(), CONFIG, None, None, True)
    assert states["c-1"] == cust


def test_output_does_not_depend_on_the_line_order() -> None:
    events = random_stream(5, 120)
    until = T0 + 200_000
    first = replay_resolved([validate_event(e) for e in events], engine(), CONFIG, until)[0]
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)
    again = replay_resolved([validate_event(e) for e in shuffled], engine(), CONFIG, until)[0]
    assert dump_lines(first.actions) == dump_lines(again.actions)
    assert dump_lines(first.decisions) == dump_lines(again.decisions)


def test_counts_are_conserved_and_equal_folding_each_persons_events() -> None:
    events = [validate_event(e) for e in random_stream(7, 120)]
    _, identity, states = replay_resolved(events, engine(), CONFIG, None, None, True)
    assert sum(sum(p["counts"].values()) for p, _ in states.values()) == len(events)
    merged_into = {a: c for a, c, _ in identity.merges}
    for key, (profile, _) in states.items():
        mine = [e for e in events if _final_key(e, merged_into, identity.rows) == key]
        assert profile["lifetime_value"] == fold_all(mine)["lifetime_value"]


def _final_key(event: dict[str, Any], merged_into: dict[str, str], rows: dict) -> str:
    if event["customer_id"]:
        return str(event["customer_id"])
    key = event["anonymous_id"]
    return merged_into.get(key, rows.get(f"anonymous_id:{key}", {}).get("c", key))


def fold_all(events: list[dict[str, Any]]) -> dict[str, Any]:
    profile = new_profile("x")
    for e in events:
        fold(profile, e)
    return profile


def test_segue_replay_resolves_identities_unless_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in visitor_then_login()))
    until = format_ms(T0 + 60_000)
    outputs = {}
    summaries = {}
    for flag in ("--identity", "--no-identity"):
        out = tmp_path / f"{flag}.jsonl"
        args = ["replay", "--events", str(path), "--journeys", str(TEST_JOURNEYS)]
        result = runner.invoke(app, [*args, "--out", str(out), "--until", until, flag])
        assert result.exit_code == 0, result.output
        outputs[flag] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        summaries[flag] = result.output
    assert {a["customer_id"] for a in outputs["--identity"]} == {"c-1"}
    assert {a["customer_id"] for a in outputs["--no-identity"]} == {"a-1"}
    assert "1 identity merges, 0 identity conflicts" in summaries["--identity"]
    assert "identity" not in summaries["--no-identity"]
