"""What ``segue journeys validate`` checks a journey's names against: the documented event
types (docs/events.md, "Vocabulary") and the templates the sinks can render.

Neither is an error: the spec lets a journey name any event type (an estate has its own) and
the templates live with the sinks, not the engine; the worker and replay run such journeys.
A name that is close to a known one is nearly always a typo, though, and an unknown template
only shows up at delivery as a dead letter, so ``validate`` warns, with the nearest name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from difflib import get_close_matches
from typing import Any

from app.core.erasure import ERASURE
from app.core.journeys.flow import step_kind
from app.core.journeys.problems import PathParts

#: the event types of docs/events.md (a test holds the two together)
EVENT_TYPES = frozenset(
    {
        "Identify",
        "ProfileUpdated",
        "SessionStarted",
        "PageViewed",
        "ProductViewed",
        "CartUpdated",
        "CartAbandoned",
        "CheckoutStarted",
        "OrderPlaced",
        "PaymentFailed",
        "PaymentRetried",
        "PaymentSucceeded",
        "TicketOpened",
        "TicketClosed",
        "SurveyAnswered",
        "ConsentUpdated",
        "Unsubscribed",
        "SignedUp",
        "OnboardingStepCompleted",
        "AppointmentBooked",
        "AppointmentMissed",
        "ChatMessage",
        "MessageSent",
        "MessageFailed",
        "MessageDelivered",
        "MessageOpened",
        "MessageClicked",
        ERASURE,
    }
)

Found = tuple[PathParts, str]


def event_type_references(doc: Any) -> Iterator[tuple[PathParts, str]]:
    """Every event type a journey names: trigger, goal, exit_on and wait_for."""
    if not isinstance(doc, dict):
        return
    for key in ("trigger", "goal"):
        part = doc.get(key)
        if isinstance(part, dict) and isinstance(part.get("event"), str):
            yield (key, "event"), part["event"]
    exits = doc.get("exit_on")
    if isinstance(exits, list):
        for i, rule in enumerate(exits):
            if isinstance(rule, dict) and isinstance(rule.get("event"), str):
                yield ("exit_on", i, "event"), rule["event"]
    for i, step in _steps(doc):
        body = step.get("wait_for") if step_kind(step) == "wait_for" else None
        if isinstance(body, dict) and isinstance(body.get("event"), str):
            yield ("steps", i, "wait_for", "event"), body["event"]


def template_references(doc: Any) -> Iterator[tuple[PathParts, str]]:
    """Every template a journey's sends (and decide options) name."""
    for i, step in _steps(doc):
        kind = step_kind(step)
        body = step.get(kind) if kind else None
        if kind == "send" and isinstance(body, dict) and isinstance(body.get("template"), str):
            yield ("steps", i, "send", "template"), body["template"]
        elif kind == "decide" and isinstance(body, dict) and isinstance(body.get("options"), list):
            for j, option in enumerate(body["options"]):
                if isinstance(option, dict) and isinstance(option.get("template"), str):
                    yield ("steps", i, "decide", "options", j, "template"), option["template"]


def unknown_event_types(doc: Any, known: Iterable[str] = EVENT_TYPES) -> list[Found]:
    """A warning for each event type that is not in the vocabulary, with the nearest one."""
    names = sorted(known)
    return [
        (
            path,
            f"event type {name!r} is not a documented one (docs/events.md)"
            + (_nearest(name, names) or "; fine if your producers send it"),
        )
        for path, name in event_type_references(doc)
        if name not in known
    ]


def missing_templates(doc: Any, templates: Iterable[str], where: str) -> list[Found]:
    """A warning for each template with no ``NAME.j2`` among ``templates`` (names without the
    suffix) in the folder ``where``: the sinks would dead-letter its sends."""
    names = sorted(set(templates))
    found = set(names)
    return [
        (path, f"template {name!r} not found ({where}/{name}.j2){_nearest(name, names)}")
        for path, name in template_references(doc)
        if name not in found
    ]


def _nearest(name: str, names: list[str]) -> str:
    close = get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"; did you mean {close[0]!r}?" if close else ""


def _steps(doc: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    steps = doc.get("steps") if isinstance(doc, dict) else None
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if isinstance(step, dict):
                yield i, step
