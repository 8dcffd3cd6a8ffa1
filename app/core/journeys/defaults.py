"""Fill in what authors may leave out, so the engine never has to guess.

The result has every documented key, with ``None`` or the default where the file is silent.
Durations stay strings (the engine parses them with ``app.core.timeutil.parse_duration``).
"""

from __future__ import annotations

from typing import Any

CATEGORIES = ("promotional", "transactional", "service")


def journey_with_defaults(doc: dict[str, Any], source: str) -> dict[str, Any]:
    """A validated journey document -> the engine's journey dict."""
    trigger = doc["trigger"]
    goal = doc.get("goal")
    return {
        "id": doc["id"],
        "version": doc["version"],
        "description": doc.get("description"),
        "category": doc.get("category", "promotional"),
        "priority": doc.get("priority", 0),
        "trigger": {"event": trigger["event"], "when": trigger.get("when")},
        "reentry": doc.get("reentry", "after_exit"),
        "exit_on": [{"event": r["event"], "when": r.get("when")} for r in doc.get("exit_on") or []],
        "goal": None
        if goal is None
        else {"event": goal["event"], "within": goal.get("within"), "when": goal.get("when")},
        "holdout": float(doc.get("holdout", 0.0)),
        "steps": doc["steps"],
        "source": source,
    }


def default_policies() -> dict[str, Any]:
    """The policies in force without a policies file: no caps, no quiet hours, no category rules.

    Consent is not a policy setting: the engine always applies it.
    """
    return policies_with_defaults({})


def policies_with_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """A validated policies document -> the engine's policies dict (every category present)."""
    quiet = doc.get("quiet_hours")
    categories = doc.get("categories") or {}
    control = doc.get("global_control")
    return {
        "global_control": None
        if not control
        else {
            "share": float(control["share"]),
            "categories": list(control.get("categories") or ["promotional"]),
        },
        "frequency_caps": [
            {"channel": c["channel"], "max": c["max"], "per": c["per"]}
            for c in doc.get("frequency_caps") or []
        ],
        "quiet_hours": None
        if quiet is None
        else {
            "start": quiet["start"],
            "end": quiet["end"],
            "default_timezone": quiet.get("default_timezone", "UTC"),
            "action": quiet.get("action", "defer"),
        },
        "consent": dict(doc.get("consent") or {}),
        "reachability": {
            channel: [names] if isinstance(names, str) else list(names)
            for channel, names in (doc.get("reachability") or {}).items()
        },
        "categories": {
            name: {
                "suppress_when": (categories.get(name) or {}).get("suppress_when"),
                "bypass": list((categories.get(name) or {}).get("bypass", [])),
                "consent": dict((categories.get(name) or {}).get("consent") or {}),
            }
            for name in CATEGORIES
        },
    }
