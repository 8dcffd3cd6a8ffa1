"""What a paused entry waits for and where it goes next, in words, from its compiled journey.

The journey state says only where an entry is paused (``at``), until when (``due``) and on what
kind of timer (``wait``, ``wait_for``, ``defer``); the definition says what the step waits for
and which step follows. Without the definition (a live worker's files not at hand) the timer is
still shown, without the details.
"""

from __future__ import annotations

from typing import Any

from app.core.journeys.compiled import END, SEND, WAIT, WAIT_FOR, Journey, Step
from app.core.timeutil import format_ms

#: the state's name of a quiet-hours deferral (app/core/journeys/run.py)
DEFER = "defer"

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))


def duration_text(ms: int) -> str:
    """``5000`` -> ``5s``, ``7200000`` -> ``2h``: the largest unit that divides it."""
    for unit, size in _UNITS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def step_of(journey: Journey | None, step_id: str | None) -> Step | None:
    if journey is None or step_id is None or step_id not in journey.index:
        return None
    return journey.steps[journey.index[step_id]]


def target(journey: Journey, index: int) -> dict[str, Any]:
    """Where an entry goes: ``{"step", "kind"}`` plus the channel and template of a send;
    ``{"step": None, "kind": "end"}`` for the end of the journey."""
    if index == END:
        return {"step": None, "kind": "end"}
    step = journey.steps[index]
    found: dict[str, Any] = {"step": step.id, "kind": step.kind}
    if step.kind == SEND:
        found["channel"], found["template"] = step.channel, step.template
    return found


def target_text(where: dict[str, Any]) -> str:
    if where["kind"] == "end":
        return "the end"
    if where["kind"] == SEND:
        return f"{where['step']} (send {where['channel']} {where['template']})"
    return f"{where['step']} ({where['kind']})"


def pending_timer(journey: Journey | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's pending timer: when it fires, what it waits for and what follows; None when
    the entry waits on no timer."""
    due = entry.get("due")
    if due is None:
        return None
    kind, at = entry.get("wait"), entry.get("at")
    timer: dict[str, Any] = {"due": format_ms(due), "kind": kind, "step": at}
    step = step_of(journey, at)
    if kind == DEFER:
        spec = entry.get("defer") or {}
        timer["send"] = {"channel": spec.get("ch"), "template": spec.get("tpl")}
        if isinstance(spec.get("at"), int):
            timer["deferred_from"] = format_ms(spec["at"])
        timer["what"] = (
            f"send {spec.get('ch')} {spec.get('tpl')} deferred by quiet hours; "
            "it is decided again (every policy) when they end"
        )
    elif journey is None or step is None:
        timer["what"] = f"{kind} at {at} (its journey definition is not at hand)"
    elif kind == WAIT:
        timer["then"] = target(journey, step.next)
        length = duration_text(step.duration) if step.duration is not None else "?"
        timer["what"] = f"the wait {at} ({length}) ends; then {target_text(timer['then'])}"
    elif kind == WAIT_FOR:
        timer["waits_for"] = step.event
        timer["then_on_event"] = target(journey, step.on_event)
        timer["then"] = target(journey, step.on_timeout)
        timer["what"] = (
            f"waits for {step.event} (then {target_text(timer['then_on_event'])}); "
            f"on timeout {target_text(timer['then'])}"
        )
    else:
        timer["what"] = f"{kind} at {at}"
    return timer
