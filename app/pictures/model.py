"""A journey as boxes and arrows, independent of how it is drawn.

Besides the steps, the picture has a start box (the trigger and entry rules), an end box, and
note boxes for ``exit_on`` and ``goal``, which can end an entry from any step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.core.journeys.flow import END, edges, step_kind

_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")
TRIGGER = "trigger"
FINISH = "finish"
EXITS = "exit_on"
GOAL = "goal"


@dataclass(slots=True)
class Node:
    key: str  # unique within the picture; steps are "s_" + step id
    kind: str  # trigger | end | exit | goal | send | wait | wait_for | branch | split | ...
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Link:
    source: str
    target: str
    kind: str  # start | next | branch | default | no_match | split | event | timeout | note
    label: str = ""


@dataclass(slots=True)
class Picture:
    title: str
    nodes: list[Node]
    links: list[Link]


def step_key(step_id: str) -> str:
    """A box key that is safe as a Mermaid node id (step ids may contain . and -)."""
    if step_id == END:
        return FINISH
    if _PLAIN.match(step_id):
        return f"s_{step_id}"
    # Characters outside [A-Za-z0-9_] become their code point, so keys stay unique.
    # Prefixed "x_" so they never collide with the "s_" keys of plain ids.
    return "x_" + "".join(c if _PLAIN.match(c) else f"_{ord(c):x}_" for c in step_id)


def journey_picture(journey: dict[str, Any]) -> Picture:
    """Boxes and arrows for a validated journey (as returned by the loader)."""
    steps = journey["steps"]
    nodes = [Node(TRIGGER, "trigger", f"{journey['id']} v{journey['version']}", _entry(journey))]
    nodes += [Node(step_key(s["id"]), step_kind(s) or "?", s["id"], _describe(s)) for s in steps]
    nodes.append(Node(FINISH, "end", "end"))
    links = [Link(TRIGGER, step_key(steps[0]["id"]), "start")]
    links += [Link(step_key(e.source), step_key(e.target), e.kind, e.label) for e in edges(steps)]
    if journey.get("exit_on"):
        lines = [_event_text(rule) for rule in journey["exit_on"]]
        nodes.append(Node(EXITS, "exit", "exit on (any step)", lines))
        links.append(Link(EXITS, FINISH, "note", "ends the entry"))
    goal = journey.get("goal")
    if goal:
        nodes.append(Node(GOAL, "goal", "goal", [f"{_event_text(goal)} within {goal['within']}"]))
        links.append(Link(GOAL, FINISH, "note", "converted"))
    return Picture(f"{journey['id']} (version {journey['version']})", nodes, links)


def _entry(journey: dict[str, Any]) -> list[str]:
    trigger = journey["trigger"]
    lines = [f"on {_event_text(trigger)}"]
    reentry = journey.get("reentry", "after_exit")
    if isinstance(reentry, dict):
        reentry = f"cooldown {reentry['cooldown']}"
    lines.append(f"{journey.get('category', 'promotional')}, priority {journey.get('priority', 0)}")
    lines.append(f"re-entry: {reentry}")
    if journey.get("holdout"):
        lines.append(f"holdout {journey['holdout']:.4g}")
    return lines


def _event_text(match: dict[str, Any]) -> str:
    when = match.get("when")
    return f"{match['event']} if {when}" if when else str(match["event"])


def _adaptive_lines(step: dict[str, Any]) -> list[str]:
    adaptive = step.get("adaptive")
    if not isinstance(adaptive, dict):
        return []
    reward = adaptive.get("reward")
    if isinstance(reward, dict):
        reward = _event_text(reward)
    return [f"adaptive (Thompson sampling), reward: {reward}"]


def _describe(step: dict[str, Any]) -> list[str]:
    kind = step_kind(step)
    body: Any = step[kind] if kind else None
    if kind == "send":
        lines = [f"send {body['channel']}: {body['template']}"]
        if body.get("data"):
            lines.append("data: " + ", ".join(body["data"]))
        return lines
    if kind == "wait":
        return [f"wait {body}"]
    if kind == "wait_for":
        return [f"wait for {_event_text(body)}", f"timeout {body['timeout']}"]
    if kind == "branch":
        return ["branch"]
    if kind == "split":
        return ["split: " + ", ".join(str(v["variant"]) for v in body), *_adaptive_lines(step)]
    if kind == "decide":
        lines = [f"decide by scores.{body['propensity']}", *_adaptive_lines(step)]
        for option in body["options"]:
            action = (
                f"{option['channel']}: {option['template']}" if option.get("channel") else "nothing"
            )
            weight = f" x {option['weight']}" if "weight" in option else ""
            cond = f" if {option['when']}" if option.get("when") else ""
            lines.append(f"{option['id']}: {action} (value {option['value']}{weight}){cond}")
        return lines
    if kind == "update":
        return [f"set {name} = {expr}" for name, expr in body["set"].items()]
    return []
