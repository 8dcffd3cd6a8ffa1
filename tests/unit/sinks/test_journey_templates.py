"""Every template a shipped journey sends exists and renders (else a real sink dead-letters it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.paths import JOURNEYS_DIR
from app.sinks.templates import Renderer, template_context


def sends(step: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(step, dict):
        if isinstance(step.get("send"), dict):
            found.append(step["send"])
        for value in step.values():
            found += sends(value)
    elif isinstance(step, list):
        for item in step:
            found += sends(item)
    return found


JOURNEY_FILES = sorted(Path(JOURNEYS_DIR).rglob("*.yaml"))
SENDS = [
    (path.relative_to(JOURNEYS_DIR).as_posix(), send)
    for path in JOURNEY_FILES
    if "schema" not in path.parts
    for send in sends(yaml.safe_load(path.read_text()))
    if send.get("template")
]


def test_the_shipped_journeys_send_something() -> None:
    assert len(SENDS) > 20
    assert any(name.startswith("demo/") for name, _ in SENDS)


@pytest.mark.parametrize(("journey", "send"), SENDS, ids=[f"{j}:{s['template']}" for j, s in SENDS])
def test_each_template_renders(journey: str, send: dict[str, Any]) -> None:
    action = {
        "action_id": "0123456789abcdef",
        "journey": journey,
        "customer_id": "c-1",
        "channel": send["channel"],
        "template": send["template"],
        "data": {key: "x" for key in (send.get("data") or {})},
        "scores": {"churn": 0.5, "intent": 0.5},
    }
    profile = {"attributes": {"name": "Ada", "email": "ada@example.com", "monthly_charges": 70}}
    subject, body = Renderer().message(send["template"], template_context(action, profile))
    assert body.strip(), f"{journey}: {send['template']} renders empty"
    assert subject
