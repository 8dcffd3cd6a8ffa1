"""The human view of a profiles-table record (``segue profile get`` without ``--json``).

The stored record is written for the engine: times as epoch ms, write stamps (``attr_ts``,
``consent_ts``), the web session's counters, sums of floats (``7.140000000000001``), the ids of
recent events. An operator asks who this is, what they did, what they agreed to and where they
are in the journeys: this view says that, one line per subject, and leaves the bookkeeping to
``--json``.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.core.timeutil import format_ms

#: attribute values longer than this are cut (``--json`` has them whole)
VALUE_MAX = 60


def profile_lines(record: dict[str, Any]) -> list[str]:
    """The view of ``record`` (``{"profile", "journeys", "ids", "merged"}``), line by line."""
    profile = record["profile"]
    rows: list[tuple[str, str]] = [("customer", str(profile.get("id")))]
    first, last = profile.get("first_seen"), profile.get("last_seen")
    if isinstance(first, int) and isinstance(last, int):
        rows.append(("seen", f"first {format_ms(first)}, last {format_ms(last)}"))
    attributes = profile.get("attributes") or {}
    rows.append(
        (
            "attributes",
            ", ".join(f"{k}={_value(v)}" for k, v in sorted(attributes.items())) or "none",
        )
    )
    counts = profile.get("counts") or {}
    events = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    rows.append(("events", f"{events} ({sum(counts.values())} in all)" if counts else "none"))
    rows.append(("consent", _consent(profile)))
    for u in profile.get("unsubscribed") or ():
        lifted = f", lifted for {', '.join(u['lifted'])}" if u.get("lifted") else ""
        rows.append(
            (
                "unsubscribed",
                f"{u['channel'] or 'every channel'} ({u['category']}) since {format_ms(u['at'])}"
                f" by {u.get('event_id') or 'an event'}{lifted}",
            )
        )
    rows.append(("open tickets", str(profile.get("open_tickets", 0))))
    rows.append(("lifetime value", f"{float(profile.get('lifetime_value') or 0.0):.2f}"))
    scores = profile.get("scores")
    if isinstance(scores, dict) and scores:
        rows.append(("scores", ", ".join(f"{k} {_value(v)}" for k, v in sorted(scores.items()))))
    rows.append(("linked", ", ".join(sorted(record.get("ids") or ())) or "none"))
    merged = record.get("merged") or ()
    if merged:
        rows.append(("merged visitors", ", ".join(merged)))
    journeys = journey_lines(record.get("journeys") or {})
    for i, line in enumerate(journeys or ["none entered"]):
        rows.append(("journeys" if i == 0 else "", line))
    width = max(len(label) for label, _ in rows) + 2
    return [f"{label:<{width}}{text}".rstrip() for label, text in rows]


def journey_lines(jstate: dict[str, Any]) -> list[str]:
    """One line per journey the customer entered: the active entry and where it waits, or how
    many entries there were."""
    entries = jstate.get("entries") or {}
    history = jstate.get("history") or {}
    lines = []
    for jid in sorted(set(entries) | set(history)):
        count, started = (history.get(jid) or [0, None])[:2]
        entry = entries.get(jid)
        if entry is not None:
            where = f"at {entry.get('at')}" if entry.get("at") else "starting"
            due = entry.get("due")
            timer = f", {entry.get('wait')} until {format_ms(due)}" if due is not None else ""
            control = ", control group" if entry.get("ho") else ""
            lines.append(f"{jid} v{entry['v']} entry {entry['n']}: active {where}{timer}{control}")
        else:
            plural = "entry" if count == 1 else "entries"
            last = f", the last started {format_ms(started)}" if isinstance(started, int) else ""
            lines.append(f"{jid}: {count} {plural}{last}, none active")
    return lines


def _consent(profile: dict[str, Any]) -> str:
    consent = profile.get("consent") or {}
    if not consent:
        return "no choice recorded"
    return ", ".join(
        f"{channel} {'granted' if granted else 'withdrawn'}"
        for channel, granted in sorted(consent.items())
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")  # 7.140000000000001 -> 7.14
        return text if text not in ("", "-0") else "0"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 3] + "..."
