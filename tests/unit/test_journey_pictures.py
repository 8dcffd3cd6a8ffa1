"""The pictures show every step and every possible move, and work offline."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from app.core.journeys import load_journeys
from app.core.journeys.flow import END, edges
from app.paths import JOURNEYS_DIR
from app.pictures.mermaid import to_mermaid
from app.pictures.model import journey_picture
from app.pictures.page import to_html
from app.pictures.svg import to_svg

EXAMPLES = load_journeys(JOURNEYS_DIR)
SVG_NS = "{http://www.w3.org/2000/svg}"


def _key(step_id: str) -> str:
    return "finish" if step_id == END else f"s_{step_id}"


@pytest.mark.parametrize("journey", EXAMPLES, ids=[j["id"] for j in EXAMPLES])
def test_mermaid_has_every_step_and_edge(journey: dict[str, Any]) -> None:
    text = to_mermaid(journey_picture(journey))
    lines = text.splitlines()
    for step in journey["steps"]:
        assert any(line.strip().startswith(f"s_{step['id']}") for line in lines), step["id"]
    arrows = {
        (m.group(1), m.group(2))
        for m in re.finditer(r"^\s+(\w+) -\.?->(?:\|[^|]*\|)? (\w+)$", text, re.MULTILINE)
    }
    for edge in edges(journey["steps"]):
        assert (_key(edge.source), _key(edge.target)) in arrows, edge
    assert ("trigger", _key(journey["steps"][0]["id"])) in arrows
    if journey["exit_on"]:
        assert ("exit_on", "finish") in arrows
    if journey["goal"]:
        assert ("goal", "finish") in arrows


def test_mermaid_labels_name_conditions_and_variants() -> None:
    by_id = {j["id"]: j for j in EXAMPLES}
    onboarding = to_mermaid(journey_picture(by_id["onboarding"]))
    assert 's_pick_nudge -->|"email_tips (50%)"| s_tips_email' in onboarding
    cart = to_mermaid(journey_picture(by_id["cart_recovery"]))
    assert 's_wait_purchase -.->|"after 24h"| s_agent_call' in cart
    assert 's_route -->|"otherwise"| s_sms_nudge' in cart
    assert "OrderPlaced within 7d" in cart


@pytest.mark.parametrize("journey", EXAMPLES, ids=[j["id"] for j in EXAMPLES])
def test_svg_is_well_formed_with_every_step(journey: dict[str, Any]) -> None:
    picture = journey_picture(journey)
    root = ET.fromstring(to_svg(picture))
    groups = {g.get("id") for g in root.iter(f"{SVG_NS}g") if g.get("id")}
    assert {f"s_{s['id']}" for s in journey["steps"]} | {"trigger", "finish"} <= groups
    paths = [p for p in root.iter(f"{SVG_NS}path") if "edge" in (p.get("class") or "")]
    assert len(paths) == len(picture.links)


@pytest.mark.parametrize("journey", EXAMPLES, ids=[j["id"] for j in EXAMPLES])
def test_boxes_do_not_overlap(journey: dict[str, Any]) -> None:
    from app.pictures.layout import layout

    boxes = [b for b in layout(journey_picture(journey)).boxes.values() if b.kind != "dummy"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart_x = abs(a.x - b.x) >= (a.w + b.w) / 2
            apart_y = a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart_x or apart_y, (a.key, b.key)


def test_step_ids_with_dots_and_dashes_get_safe_distinct_node_keys() -> None:
    journey = {
        "id": "j",
        "version": 1,
        "trigger": {"event": "E", "when": None},
        "exit_on": [],
        "goal": None,
        "steps": [
            {"id": "a-b", "send": {"channel": "sms", "template": "t"}},
            {"id": "a_2d_b", "send": {"channel": "sms", "template": "t"}},
            {"id": "v1.2", "wait": "1h"},
        ],
    }
    keys = [node.key for node in journey_picture(journey).nodes]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"\w+", key) for key in keys)


def test_html_page_is_self_contained() -> None:
    page = to_html(EXAMPLES[0])
    assert "<svg" in page and "Mermaid source" in page
    outside = re.findall(r"(?:src|href)\s*=|https?://(?!www\.w3\.org/2000/svg)", page)
    assert outside == []


def test_a_loop_is_drawn_as_an_arrow_going_back_up() -> None:
    from pathlib import Path

    from app.core.journeys import load_journey_file
    from app.pictures.layout import layout

    journey = load_journey_file(Path(__file__).with_name("loop_journey.yaml"))
    laid = layout(journey_picture(journey))
    back = [r for r in laid.routes if r.back]
    assert [(r.link.source, r.link.target) for r in back] == [("s_again", "s_nudge")]
    assert laid.boxes["s_nudge"].y < laid.boxes["s_again"].y
    ET.fromstring(to_svg(journey_picture(journey)))  # still well-formed
