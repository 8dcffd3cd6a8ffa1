"""Delivery outcomes as event envelopes for ``events.receipts`` (profiles count them and journeys
can ``wait_for`` them).

The event id is derived from the action id and the kind, so a receipt emitted twice after a crash
is recognisably the same receipt. A receipt is never dated before the action it answers: the
sink's clock may lag the producers' event times, and a receipt dated earlier would, in replay,
come before the event that caused it (a journey waiting for its own send's receipt would see it
live and not in replay)."""

from __future__ import annotations

from typing import Any

from app.core.timeutil import format_ms, parse_rfc3339

SENT = "MessageSent"
FAILED = "MessageFailed"
DELIVERED = "MessageDelivered"
OPENED = "MessageOpened"
CLICKED = "MessageClicked"

#: provider callback status -> receipt type
CALLBACK_KINDS = {"delivered": DELIVERED, "opened": OPENED, "clicked": CLICKED}


def receipt_event(
    kind: str,
    action: dict[str, Any],
    at_ms: int,
    *,
    channel: str,
    extra: dict[str, Any] | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    """The receipt envelope for ``action``. ``action`` may be a partial (bad) action: only
    ``action_id``/``customer_id`` are needed, and the caller checks the customer id."""
    action_id = str(action.get("action_id") or "")
    at_ms = max(at_ms, _event_time_ms(action))
    props: dict[str, Any] = {
        "action_id": action_id,
        "channel": channel,
        "journey": action.get("journey"),
        "step": action.get("step"),
        "template": action.get("template"),
    }
    if extra:
        props.update(extra)
    return {
        "event_id": f"{action_id}:{kind}{suffix}",
        "type": kind,
        "customer_id": action.get("customer_id"),
        "timestamp": format_ms(at_ms),
        "properties": props,
        "context": {"source": "segue-sink"},
    }


def _event_time_ms(action: dict[str, Any]) -> int:
    """The action's event time in epoch ms, or 0 when it has none (a partial or bad action)."""
    value = action.get("event_time")
    if not isinstance(value, str):
        return 0
    try:
        return parse_rfc3339(value)
    except ValueError:
        return 0
