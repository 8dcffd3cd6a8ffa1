"""Projected CEL evaluation gives exactly the result of evaluating against the whole values."""

from __future__ import annotations

from typing import Any

import cel
import pytest

from app.core.journeys.cel_program import Expr, project, read_paths

EVENT = {
    "type": "CartAbandoned",
    "event_id": "e-1",
    "properties": {"cart_value": 25.0, "items": 3, "tags": ["a", "b"], "nested": {"x": 1}},
    "context": {"channel": "web"},
}
PROFILE = {
    "attributes": {"tier": "gold", "n": 2, "email": "a@b.c"},
    "counts": {"Start": 2},
    "open_tickets": 0,
    "consent": {"sms": False},
}
VALUES = {"event": EVENT, "profile": PROFILE, "scores": {"churn": 0.2, "intent": 0.7}}


def outcome(program: Any, variables: dict[str, Any]) -> Any:
    try:
        return ("ok", program.execute(variables))
    except Exception as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize(
    "source",
    [
        "event.properties.cart_value >= 20.0",
        "event.properties.missing > 1",
        "has(event.properties.cart_value) && !has(event.properties.nope)",
        "'cart_value' in event.properties",
        "size(event.properties) == 4",
        "event.properties['cart_value'] > 1.0",
        "event.properties.tags.exists(t, t == 'b')",
        "event.properties.nested.x == 1 && event.type.startsWith('Cart')",
        "event.context.channel == 'web' || profile.attributes.tier == 'silver'",
        "profile.attributes.n + 1 == 3",
        "'Start' in profile.counts && profile.counts.Start == 2",
        "profile.consent.sms == false",
        "scores.intent >= 0.6 && scores.churn < 0.5",
        "[1, 2].exists(event, event == 2)",  # a macro variable shadowing a root
        "event == null",
        "event.properties.cart_value > 'x'",
        "\"event.properties\" == 'event.properties'",  # a root name inside a string literal
        "profile.counts['Start'] == 2",
        "'Missing' in profile.counts || profile.counts[\"Start\"] > 1",
        "'Start' in profile.counts && size(profile.counts) == 1",
        "'a' in event.properties.tags",
        "'x' in event.properties.nested && event.properties.nested['x'] == 1",
        "'cart_value' in event.properties && event.properties.cart_value > 1.0",
    ],
)
def test_projection_never_changes_a_result(source: str) -> None:
    expr = Expr(source, "j")
    projected = {name: project(VALUES[name], spec) for name, spec in expr.needs}
    assert outcome(expr.program, projected) == outcome(cel.compile(source), VALUES)


def test_read_paths_keeps_only_the_members_read() -> None:
    assert read_paths("event.properties.cart_value > 1 && event.type == 'x'") == {
        "event": {"properties": {"cart_value": True}, "type": True}
    }
    assert read_paths("event.type.startsWith('C')") == {"event": {"type": True}}
    assert read_paths("size(profile.attributes) > 0") == {"profile": {"attributes": True}}
    assert read_paths("entry.trigger.properties.x") == {
        "entry": {"trigger": {"properties": {"x": True}}}
    }


def test_a_string_index_or_in_reads_one_member_of_a_map() -> None:
    source = '"A" in profile.last_event_at && now - profile.last_event_at["A"] < duration("1h")'
    assert read_paths(source) == {"profile": {"last_event_at": {"A": True}}, "now": True}
    assert read_paths("'x' in event.properties") == {"event": {"properties": {"x": True}}}
    assert read_paths("event.properties[k]") == {"event": {"properties": True}}  # not a literal


def test_project_keeps_absence() -> None:
    assert project({"a": {"b": 1}}, {"a": {"c": True}, "z": True}) == {"a": {}}
