"""The live-agent handoff ticket: everything the agent needs so that nobody asks the customer to
repeat themselves (profile snapshot, the last events, the journey's history, any transcript)."""

from __future__ import annotations

from typing import Any

_LISTS = frozenset({"recent", "transcript"})  # core/handoff.py


def handoff_ticket(
    action: dict[str, Any], profile: dict[str, Any] | None, summary: str, subject: str
) -> dict[str, Any]:
    """The helpdesk ticket for an ``agent`` action. The engine may put ``last_events``,
    ``history`` and ``transcript`` in the action's ``context`` or ``data``; what is there is
    passed on, what is not is an empty list."""
    context = action.get("context") or {}
    data = action.get("data") or {}

    def pick(name: str) -> Any:
        return context.get(name) or data.get(name) or action.get(name) or []

    return {
        "ticket_id": action["action_id"],
        "customer_id": action["customer_id"],
        "subject": subject,
        "summary": summary,
        "priority": context.get("priority"),
        "journey": {
            "id": action.get("journey"),
            "version": action.get("journey_version"),
            "step": action.get("step"),
            "variant": action.get("variant"),
            "trigger_event_id": action.get("trigger_event_id"),
            "history": pick("history"),
        },
        "scores": action.get("scores") or {},
        "data": data,
        # the snapshot without its handoff lists: they are the ticket's last_events/transcript
        "profile": {k: v for k, v in (profile or {}).items() if k not in _LISTS},
        "last_events": pick("last_events"),
        "transcript": pick("transcript"),
        "decided_at": action.get("decided_at"),
    }
