"""The explanation (assemble.py) as text: the answers first, then each journey entry's story."""

from __future__ import annotations

from typing import Any

from app.core.journeys.outcome import DECIDED, ENTERED, EXITED, TIMED_OUT

_SOURCES = {"live": "live, from the worker's state", "replay": "from a replay"}


def render(doc: dict[str, Any]) -> str:
    lines = [_headline(doc)]
    if doc.get("worker_timer"):
        lines.append(f"the worker's next timer for this customer: {doc['worker_timer']}")
    lines.append("")
    lines.append("answers:")
    answers = doc["answers"]
    lines.extend(f"  {a['text']}" for a in answers)
    if not answers:
        lines.append("  no send was reached")
    for journey in doc["journeys"]:
        lines.append("")
        if not journey["entries"]:
            lines.append(f"{journey['journey']}: {journey.get('note', 'no entry')}")
            continue
        for entry in journey["entries"]:
            lines.extend(_entry(journey["journey"], entry))
    return "\n".join(lines) + "\n"


def _headline(doc: dict[str, Any]) -> str:
    head = f"customer {doc['customer_id']}"
    if doc["requested_as"] != doc["customer_id"]:
        head += f" ({doc['requested_as']} resolves to it)"
    head += f": {_SOURCES.get(doc['source'], doc['source'])}"
    if doc.get("as_of"):
        # live, the state is as of the customer's last event; a replay's, as of its end
        head += (
            f"; last event {doc['as_of']}" if doc["source"] == "live" else f", as of {doc['as_of']}"
        )
    return head


def _entry(jid: str, e: dict[str, Any]) -> list[str]:
    status = e["status"]
    if status == "active":
        status = f"active, at {e['step']}"
    lines = [f"{jid} v{e['version']} entry {e['entry']}: {status}"]
    group = "control group (sends held out)" if e["control"] else "treatment group"
    variant = f", variant {e['variant']}" if e.get("variant") else ""
    trigger = (
        _events([e["trigger"]], e["started_at"])
        if e.get("trigger")
        else "an event no longer on record"
    )
    when = e["started_at"] or "(time not on record)"
    lines.append(f"  entered {when} on {trigger}; {group}{variant}")
    if e.get("started_as"):
        visitor = e["started_as"]
        lines.append(
            f"  started as the anonymous visitor {visitor['customer_id']} (its entry "
            f"{visitor['entry']}), carried over when identity linked them"
        )
    if e.get("note"):
        lines.append(f"  note: {e['note']}")
    if e.get("ended"):
        lines.append(f"  ended {e['ended']['time']}: {e['ended']['why']}")
    timer = e.get("timer")
    if timer:
        lines.append(f"  timer {timer['due']}: {timer['what']}")
    if e["path"]:
        lines.append(f"  path: {' > '.join(p['step'] for p in e['path'])}")
    for d in e["decisions"]:
        lines.append(f"  {d['time']}  {_what(d)}  <- {_because(d['because'], d['time'])}")
    return lines


def _what(d: dict[str, Any]) -> str:
    kind = d["kind"]
    if kind == ENTERED:
        return "entered"
    if "action_id" in d:  # sent, suppressed, held out
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return (
            f"{kind}{reason} {d.get('channel')} {d.get('template')} at step {d['step']}"
            f" [action {d['action_id']}]"
        )
    if kind == DECIDED:
        options = ", ".join(
            f"{o['id']}={o['score']:.3f}" if o.get("eligible") else f"{o['id']}=not eligible"
            for o in d.get("options") or ()
        )
        choice = d.get("choice") or "no eligible option"
        channel = f" -> {d['channel']}" if d.get("channel") else " (nothing to send)"
        return f"decided at {d['step']}: {choice}{channel}; options {options or 'none'}"
    if kind == TIMED_OUT:
        return f"timed out at {d['step']}"
    if kind == EXITED:
        return f"exited ({d.get('reason')})"
    return kind  # goal, ended


def _because(cause: dict[str, Any], when: str) -> str:
    if "events" in cause:
        return _events(cause["events"], when)
    if "timer" in cause:
        return f"timer: {cause['timer']}"
    return str(cause.get("other"))


def _events(events: list[dict[str, Any]], when: str | None = None) -> str:
    """``type id``, with its time where it is not the decision's own (``when``)."""
    return ", ".join(
        f"{e.get('type') or 'event'} {e.get('event_id') or '(id not on record)'}"
        + ("" if e["time"] == when else f" at {e['time']}")
        for e in events
    )
