"""The explanation of one customer: per journey, each entry's life, state, timer and decisions.

The inputs are what Segue keeps anyway: the customer's journey state (active entries with their
timers, the history of entries), the outcome records (app/core/journeys/outcome.py: every
entry, step, send, suppression, holdout, decision, timeout, goal and exit, with its reason), the
customer's events (to name the event behind each record) and, where at hand, the journey
definitions (to say what a timer waits for and what follows it). Live and replay hand the same
shapes, so both forms read alike. The result is plain JSON (``segue explain --json``);
render.py writes it as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.journeys.compiled import SEND, Journey, compile_journey
from app.core.journeys.outcome import (
    DECIDED,
    ENDED,
    ENDINGS,
    ENTERED,
    EXITED,
    GOAL,
    HELD_OUT,
    SENT,
    STEP,
)
from app.core.timeutil import format_ms, parse_rfc3339
from app.explain.causes import SENDS, causes_of
from app.explain.events import EventIndex, brief
from app.explain.pauses import DEFER, duration_text, pending_timer

Definitions = Mapping[str, Mapping[int, Journey]]  # journey id -> version -> journey


def compile_definitions(journeys: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, Journey]]:
    """The loader's journey dicts (app/core/journeys/definitions.py) by id and version."""
    found: dict[str, dict[int, Journey]] = {}
    for d in journeys:
        j = compile_journey(dict(d))
        found.setdefault(j.id, {})[j.version] = j
    return found


#: what an outcome record may say, copied to its decision as it is
_DETAILS = (
    "action_id",
    "channel",
    "template",
    "reason",
    "propensity",
    "options",
    "choice",
    "event_id",
    "event_type",
    "time_to_goal_ms",
    "merged_into",
)


@dataclass
class Customer:
    """What is known about one customer, live or from a replay."""

    customer_id: str
    requested_as: str
    #: "live" (the worker's state on the broker) or "replay"
    source: str
    #: the journey state (app/core/journeys/state.py); None when nothing is stored
    jstate: dict[str, Any] | None
    #: outcome records of the customer (and of anonymous keys merged into it), any order
    outcomes: Sequence[dict[str, Any]]
    events: EventIndex = field(default_factory=EventIndex)
    definitions: Definitions = field(default_factory=dict)
    #: the time the state is as of (replay: its end; live: the customer's last event)
    as_of: int | None = None
    #: live: the customer's next timer as the worker's timer store holds it
    worker_timer: int | None = None
    #: action and decision records by action id (their ``data``), where read
    actions: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def explain(customer: Customer, journey: str | None = None) -> dict[str, Any]:
    """The explanation document (see the module docstring); ``journey`` narrows it to one."""
    records = _ordered(customer.outcomes)
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["journey"], r["customer_id"], r["entry"]), []).append(r)
    jstate = customer.jstate or {}
    active = jstate.get("entries") or {}
    key = customer.customer_id
    for jid, entry in active.items():
        groups.setdefault((jid, key, entry["n"]), [])
    history = jstate.get("history") or {}
    wanted = sorted({jid for jid, _, _ in groups} | set(history))
    if journey is not None:
        wanted = [journey]
    journeys = []
    for jid in wanted:
        entries = []
        mine = {(o, n): rs for (gid, o, n), rs in groups.items() if gid == jid}
        for owner, number, rs, visitor in _carried_over(mine, key):
            state = (
                active.get(jid) if owner == key and active.get(jid, {}).get("n") == number else None
            )
            entries.append(_entry(customer, jid, owner, number, rs, state, visitor))
        entries.sort(key=lambda e: (e["started_ms"] or 0, e["customer_id"], e["entry"]))
        shown: dict[str, Any] = {
            "journey": jid,
            "entries_so_far": (history.get(jid) or [0])[0],
            "entries": entries,
        }
        if not entries:
            shown["note"] = (
                "never entered"
                if jid not in history
                else "entered before the outcome records kept now; no entry is active"
            )
        journeys.append(shown)
    for shown in journeys:
        for e in shown["entries"]:
            del e["started_ms"]
    document: dict[str, Any] = {
        "customer_id": key,
        "requested_as": customer.requested_as,
        "source": customer.source,
        "as_of": None if customer.as_of is None else format_ms(customer.as_of),
        "answers": _answers(journeys),
        "journeys": journeys,
    }
    if customer.worker_timer is not None:
        document["worker_timer"] = format_ms(customer.worker_timer)
    return document


def _carried_over(
    groups: dict[tuple[str, int], list[dict[str, Any]]], key: str
) -> list[tuple[str, int, list[dict[str, Any]], tuple[str, int] | None]]:
    """The entries of one journey as (owner, number, records, visitor). An anonymous visitor's
    entry that was still running when identity linked the visitor carries over to the customer
    under a new number (app/core/journeys/state_merge.py): its records are split between the
    visitor's key (no ending) and the customer's (no ``entered``). Such pairs are one entry
    here, the customer's, with ``visitor`` the (key, number) it started as."""
    started = [
        (o, n)
        for (o, n), rs in groups.items()
        if o != key and not any(r["kind"] in ENDINGS for r in rs)
    ]
    continued = [
        (o, n)
        for (o, n), rs in groups.items()
        if o == key and not (rs and rs[0]["kind"] == ENTERED)
    ]

    def first(pair: tuple[str, int]) -> float:
        rs = groups[pair]  # none yet: an active entry carried over that has not moved since
        return parse_rfc3339(rs[0]["event_time"]) if rs else float("inf")

    started.sort(key=first)
    continued.sort(key=first)
    paired = dict(zip(continued, started, strict=False))
    joined = set(paired.values())
    found = []
    for (owner, number), rs in groups.items():
        if (owner, number) in joined:
            continue
        visitor = paired.get((owner, number))
        if visitor is not None:
            rs = groups[visitor] + rs
        found.append((owner, number, rs, visitor))
    return found


def _ordered(outcomes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record once (live output is at least once), in time order; records of one moment
    keep the order they were written in."""
    seen: set[str] = set()
    kept = []
    for r in outcomes:
        oid = r.get("outcome_id")
        if oid is not None:
            if oid in seen:
                continue
            seen.add(oid)
        kept.append(r)
    return sorted(kept, key=lambda r: parse_rfc3339(r["event_time"]))


def _entry(
    customer: Customer,
    jid: str,
    owner: str,
    number: int,
    records: list[dict[str, Any]],
    state: dict[str, Any] | None,
    visitor: tuple[str, int] | None = None,
) -> dict[str, Any]:
    entered = next((r for r in records if r["kind"] == ENTERED), None)
    version = (
        entered["journey_version"]
        if entered is not None
        else state["v"]
        if state is not None
        else records[0]["journey_version"]
    )
    definition = customer.definitions.get(jid, {}).get(version)
    goal_type = entered.get("goal") if entered is not None else None
    if goal_type is None and definition is not None:
        goal_type = definition.goal_event
    causes = causes_of(records, definition, customer.events, goal_type)
    latest = records[-1] if records else None
    started_ms = (
        parse_rfc3339(entered["event_time"])
        if entered is not None
        else state["t0"]
        if state is not None
        else None
    )
    if entered is not None:
        trigger = causes[records.index(entered)]["events"][0]
    elif state is not None:
        trigger = customer.events.get(state.get("tid")) or brief(
            state.get("tid"), None, state["t0"]
        )
    else:
        trigger = None
    shown: dict[str, Any] = {
        "entry": number,
        "version": version,
        "customer_id": owner,
        "started_ms": started_ms,
        "started_at": None if started_ms is None else format_ms(started_ms),
        "trigger": trigger,
        "control": state["ho"] if state is not None else bool(latest and latest["control"]),
        "variant": state.get("var") if state is not None else latest and latest["variant"],
    }
    if owner != customer.customer_id:
        shown["note"] = f"as the anonymous visitor {owner}, before identity linked it"
    if visitor is not None:
        shown["started_as"] = {"customer_id": visitor[0], "entry": visitor[1]}
    ending = next((r for r in reversed(records) if r["kind"] in ENDINGS), None)
    steps = [r for r in records if r["kind"] == STEP]
    if state is not None:
        shown["status"] = "active"
        shown["step"] = state.get("at")
        shown["timer"] = pending_timer(definition, state)
    else:
        shown["status"] = ending["kind"] if ending is not None else "unknown"
        shown["step"] = steps[-1]["step"] if steps else None
        shown["timer"] = None
        if ending is not None:
            shown["ended"] = {"time": ending["event_time"], "why": _ending_text(ending, goal_type)}
        elif owner != customer.customer_id:
            shown["note"] = (
                f"as the anonymous visitor {owner}: running when identity linked it to "
                f"{customer.customer_id}, carried over (its records there are not on record)"
            )
        else:
            shown["note"] = "its end is not on record (past the outcome records' retention)"
    shown["path"] = [{"time": r["event_time"], "step": r["step"]} for r in steps]
    shown["decisions"] = [
        _decision(r, cause, customer.actions)
        for r, cause in zip(records, causes, strict=True)
        if r["kind"] != STEP
    ]
    return shown


def _ending_text(ending: dict[str, Any], goal_type: str | None) -> str:
    kind = ending["kind"]
    if kind == GOAL:
        after = ending.get("time_to_goal_ms")
        within = f" {duration_text(after)} after it started" if isinstance(after, int) else ""
        return f"reached its goal ({goal_type or 'the goal event'}){within}"
    if kind == EXITED:
        reason = ending.get("reason")
        if reason == "exit_on":
            return f"exited on {ending.get('event_type')} (exit_on)"
        return f"exited ({reason})"
    if kind == ENDED:
        return "walked off its last step (or reached end)"
    return kind


def _decision(
    r: dict[str, Any], cause: dict[str, Any], actions: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    shown: dict[str, Any] = {"time": r["event_time"], "kind": r["kind"], "step": r.get("step")}
    for name in _DETAILS:
        if name in r:
            shown[name] = r[name]
    action = actions.get(r["action_id"]) if "action_id" in r else None
    if action is not None and action.get("data"):
        shown["data"] = action["data"]
    shown["because"] = cause
    return shown


def _answers(journeys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One answer per send (sent, suppressed, held out), per decide step that sent nothing and
    per send still waiting on a timer (``not_yet``, ``deferred``), in time order. Each has its
    fields and a ``text`` line."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for shown in journeys:
        for e in shown["entries"]:
            where = {"journey": shown["journey"], "version": e["version"], "entry": e["entry"]}
            answers = [_answer(d) for d in e["decisions"]] + [_pending_answer(e.get("timer"))]
            for answer in answers:
                if answer is not None:
                    answer = {**where, **answer}
                    answer["text"] += (
                        f" ({answer['journey']} v{answer['version']} entry {answer['entry']}, "
                        f"step {answer['step']})"
                    )
                    found.append((parse_rfc3339(answer["time"]), len(found), answer))
    found.sort(key=lambda item: (item[0], item[1]))
    return [answer for _, _, answer in found]


def _answer(d: dict[str, Any]) -> dict[str, Any] | None:
    kind, time = d["kind"], d["time"]
    if kind in SENDS:
        what = "held out" if kind == HELD_OUT else kind
        if kind != SENT:
            what += f" ({d.get('reason')})"
        return {
            "time": time,
            "step": d.get("step"),
            "channel": d.get("channel"),
            "template": d.get("template"),
            "outcome": kind,
            "reason": d.get("reason"),
            "text": f"{d.get('channel')} {d.get('template')}: {what} at {time}",
        }
    if kind == DECIDED and d.get("channel") is None:
        chose = f"chose {d['choice']} (do nothing)" if d.get("choice") else "had no eligible option"
        return {
            "time": time,
            "step": d.get("step"),
            "channel": None,
            "template": None,
            "outcome": "nothing_sent",
            "reason": "do_nothing" if d.get("choice") else "no_eligible_option",
            "text": f"decide {d.get('step')}: {chose}, nothing sent, at {time}",
        }
    return None


def _pending_answer(timer: dict[str, Any] | None) -> dict[str, Any] | None:
    if timer is None:
        return None
    due = timer["due"]
    if timer["kind"] == DEFER:
        send = timer.get("send") or {}
        channel, template = send.get("channel"), send.get("template")
        return {
            "time": due,
            "step": timer["step"],
            "channel": channel,
            "template": template,
            "outcome": "deferred",
            "reason": "quiet_hours",
            "text": f"{channel} {template}: deferred by quiet hours until {due}",
        }
    then = timer.get("then") or {}
    if then.get("kind") != SEND:
        return None
    if timer.get("waits_for"):
        condition = f"if {timer['waits_for']} has not come by then"
    else:
        condition = f"when the wait {timer['step']} ends"
    return {
        "time": due,
        "step": then["step"],
        "channel": then["channel"],
        "template": then["template"],
        "outcome": "not_yet",
        "reason": None,
        "text": f"{then['channel']} {then['template']}: not yet, due {due} {condition}",
    }
