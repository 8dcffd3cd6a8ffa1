"""Backtest diffs: two replays of the same events (journeys A and B) joined send by send.

A send is identified across versions by (customer, journey, entry number, step, visit): the
action id cannot join them, since it hashes the journey's version. Each send of either side is
*emitted*, *suppressed* (with its reason) or *held out*; the diff lists the sends only A has,
only B has, and those both have with a different status, channel, template or time. Beside
it, per journey, the entries and conversions of each side with the difference of the rates
(B - A), its 95 % interval and Fisher's exact p-value. Both sides replay the *same* customer
behaviour (a replay cannot know how a customer would have answered a different send), so a
conversion delta comes only from what decides entries and goals (triggers, conditions, goal
windows, holdouts), and the two samples overlap: the interval is the one of two independent
samples, a conservative reading, and the report says so.

Pure and deterministic: the same inputs give the same rows in the same order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from app.report import stats

Row = dict[str, Any]
SendKey = tuple[str, str, int, str, int]  # customer, journey, entry, step, visit

COMPARED = ("status", "channel", "template", "event_time")


def send_key(record: dict[str, Any]) -> SendKey:
    visit = (record.get("context") or {}).get("visit", 1)
    return (record["customer_id"], record["journey"], record["entry"], record["step"], visit)


def sends(actions: list[dict[str, Any]], decisions: list[dict[str, Any]]) -> dict[SendKey, Row]:
    """Every send of one replay, emitted or not, by its cross-version key."""
    out: dict[SendKey, Row] = {}
    for record, status in [(a, "emitted") for a in actions] + [
        (d, f"{d['decision']}:{d['reason']}") for d in decisions
    ]:
        out[send_key(record)] = {
            "status": status,
            "channel": record["channel"],
            "template": record["template"],
            "event_time": record["event_time"],
            "version": record["journey_version"],
            "action_id": record["action_id"],
        }
    return out


@dataclass
class Diff:
    changes: list[Row]  # one per send that differs
    summary: list[Row]  # per journey: counts of each kind of change
    outcomes: list[Row]  # per journey: entries, conversions, rate delta with its interval

    def tables(self) -> dict[str, list[Row]]:
        return {"diff_summary": self.summary, "diff_outcomes": self.outcomes, "diff": self.changes}


def diff_sends(a: dict[SendKey, Row], b: dict[SendKey, Row]) -> list[Row]:
    rows = []
    for key in sorted(a.keys() | b.keys()):
        left, right = a.get(key), b.get(key)
        if left is not None and right is not None:
            fields = [f for f in COMPARED if left[f] != right[f]]
            if not fields:
                continue
            change = "changed"
        else:
            fields = []
            change = "only_in_a" if right is None else "only_in_b"
        customer, journey, entry, step, visit = key
        rows.append(
            {
                "change": change,
                "customer_id": customer,
                "journey": journey,
                "entry": entry,
                "step": step,
                "visit": visit,
                "fields": ",".join(fields),
                **{f"a_{f}": (left or {}).get(f) for f in COMPARED},
                **{f"b_{f}": (right or {}).get(f) for f in COMPARED},
            }
        )
    return rows


def summarise(changes: list[Row], a: dict[SendKey, Row], b: dict[SendKey, Row]) -> list[Row]:
    counts: Counter[tuple[str, str]] = Counter()
    for row in changes:
        counts[row["journey"], row["change"]] += 1
        if row["change"] == "changed":
            for name in row["fields"].split(","):
                counts[row["journey"], f"changed_{name}"] += 1
    emitted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for side, records in ((0, a), (1, b)):
        for (_, journey, *_rest), send in records.items():
            if send["status"] == "emitted":
                emitted[journey][side] += 1
    rows = []
    for journey in sorted(emitted.keys() | {j for j, _ in counts}):
        rows.append(
            {
                "journey": journey,
                "emitted_a": emitted[journey][0],
                "emitted_b": emitted[journey][1],
                "only_in_a": counts[journey, "only_in_a"],
                "only_in_b": counts[journey, "only_in_b"],
                "changed": counts[journey, "changed"],
                **{f"changed_{f}": counts[journey, f"changed_{f}"] for f in COMPARED},
            }
        )
    return rows


def entry_outcomes(outcomes: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per journey: (treatment entries, their conversions)."""
    entries: dict[tuple[str, str, int], bool] = {}
    control: set[tuple[str, str, int]] = set()
    for record in outcomes:
        key = (record["customer_id"], record["journey"], record["entry"])
        if record["control"]:
            control.add(key)
        if record["kind"] == "entered":
            entries.setdefault(key, False)
        elif record["kind"] == "goal":
            entries[key] = True
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key, converted in entries.items():
        if key in control:
            continue
        totals[key[1]][0] += 1
        totals[key[1]][1] += converted
    return {j: (n, k) for j, (n, k) in totals.items()}


def outcome_deltas(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[Row]:
    left, right = entry_outcomes(a), entry_outcomes(b)
    rows = []
    for journey in sorted(left.keys() | right.keys()):
        n1, k1 = left.get(journey, (0, 0))
        n2, k2 = right.get(journey, (0, 0))
        row: Row = {
            "journey": journey,
            "entries_a": n1,
            "conversions_a": k1,
            "rate_a": k1 / n1 if n1 else None,
            "entries_b": n2,
            "conversions_b": k2,
            "rate_b": k2 / n2 if n2 else None,
            "delta": None,
            "delta_low": None,
            "delta_high": None,
            "p_value": None,
        }
        if n1 and n2:
            delta, low, high, p = stats.compare(k2, n2, k1, n1)
            row.update(delta=delta, delta_low=low, delta_high=high, p_value=p)
        rows.append(row)
    return rows


def backtest_diff(
    a: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    b: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
) -> Diff:
    """``a`` and ``b``: (actions, decisions, outcome records) of each replay."""
    sends_a, sends_b = sends(a[0], a[1]), sends(b[0], b[1])
    changes = diff_sends(sends_a, sends_b)
    return Diff(
        changes=changes,
        summary=summarise(changes, sends_a, sends_b),
        outcomes=outcome_deltas(a[2], b[2]),
    )
