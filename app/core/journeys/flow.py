"""The step graph of a journey: which step can follow which, and why.

Shared by validation (reachability, loops) and by the pictures, so both agree with the engine on
how control moves: a step continues with ``next`` or else the following step (the end of the list
ends the entry); ``branch`` and ``split`` go where their cases say (``next`` is ignored there), and
a branch without a default falls through when no case matches; ``wait_for`` continues with
``on_event`` / ``on_timeout``, each defaulting to ``next`` and then to the following step.
Written defensively: it also runs on documents that failed the schema, and skips what it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.timeutil import TimeFormatError, parse_duration

END = "end"
STEP_KINDS = ("send", "wait", "wait_for", "branch", "split", "decide", "update")


@dataclass(frozen=True, slots=True)
class Edge:
    """``source`` may continue with ``target`` (a step id or ``end``).

    ``kind``: next | branch | default | no_match | split | event | timeout.
    """

    source: str
    target: str
    kind: str
    label: str = ""


def step_kind(step: Any) -> str | None:
    """The kind of a step (its one kind key), or None if it has none or several."""
    if not isinstance(step, dict):
        return None
    kinds = [k for k in STEP_KINDS if k in step]
    return kinds[0] if len(kinds) == 1 else None


def step_id(step: Any) -> str | None:
    value = step.get("id") if isinstance(step, dict) else None
    return value if isinstance(value, str) else None


def pauses(step: Any) -> bool:
    """True for a step that always lets time pass: a wait or wait_for of a positive duration."""
    kind = step_kind(step)
    if kind == "wait":
        duration = step["wait"]
    elif kind == "wait_for" and isinstance(step["wait_for"], dict):
        duration = step["wait_for"].get("timeout")
    else:
        return False
    try:
        return parse_duration(duration) > 0
    except TimeFormatError:
        return False


def edges(steps: list[Any]) -> list[Edge]:
    """Every possible move between the steps, in step order."""
    out: list[Edge] = []
    for index, step in enumerate(steps):
        source = step_id(step)
        if source is None:
            continue
        following = _following(steps, index)
        explicit = step.get("next")
        after = explicit if isinstance(explicit, str) else following
        kind = step_kind(step)
        body = step.get(kind) if kind else None
        if kind == "branch" and isinstance(body, list):
            out.extend(_branch_edges(source, body, following))
        elif kind == "split" and isinstance(body, list):
            out.extend(_split_edges(source, body, "adaptive" in step))
        elif kind == "wait_for" and isinstance(body, dict):
            on_event = body.get("on_event")
            on_timeout = body.get("on_timeout")
            event = body.get("event", "?")
            when = body.get("when")
            label = f"{event} if {when}" if isinstance(when, str) else str(event)
            out.append(
                Edge(source, on_event if isinstance(on_event, str) else after, "event", label)
            )
            timeout = body.get("timeout", "?")
            target = on_timeout if isinstance(on_timeout, str) else after
            out.append(Edge(source, target, "timeout", f"after {timeout}"))
        elif kind is not None and kind not in ("branch", "split", "wait_for"):
            label = f"after {body}" if kind == "wait" else ""
            out.append(Edge(source, after, "next", label))
    return out


def _following(steps: list[Any], index: int) -> str:
    if index + 1 < len(steps):
        return step_id(steps[index + 1]) or END
    return END


def _branch_edges(source: str, cases: list[Any], following: str) -> list[Edge]:
    out: list[Edge] = []
    has_default = False
    for case in cases:
        if not isinstance(case, dict) or not isinstance(case.get("goto"), str):
            continue
        when = case.get("when")
        if when is None:
            has_default = True
            out.append(Edge(source, case["goto"], "default", "otherwise"))
        else:
            out.append(Edge(source, case["goto"], "branch", str(when)))
    if not has_default:
        out.append(Edge(source, following, "no_match", "no case matches"))
    return out


def _split_edges(source: str, variants: list[Any], adaptive: bool = False) -> list[Edge]:
    """One edge per variant that can be chosen, with its share (an adaptive split's shares are
    learned: "adaptive" instead)."""
    usable = [
        v
        for v in variants
        if isinstance(v, dict)
        and isinstance(v.get("goto"), str)
        and isinstance(v.get("weight"), int | float)
        and not isinstance(v.get("weight"), bool)
        and v["weight"] > 0
    ]
    total = sum(v["weight"] for v in usable)
    out: list[Edge] = []
    for variant in usable:
        share = "adaptive" if adaptive else f"{variant['weight'] / total * 100:.4g}%"
        out.append(Edge(source, variant["goto"], "split", f"{variant.get('variant')} ({share})"))
    return out
