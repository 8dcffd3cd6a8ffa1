"""The report's tables from outcome records (and delivery receipts): pure, one pass, no I/O.

Entries are the unit: an entry (customer, journey, entry number) counts when its ``entered``
record lies in the report's time range, and everything recorded about it afterwards counts with
it (a cohort: an entry that started on the last day still converts on the next). An entry
converts when it has a ``goal`` record. Treatment is every entry outside the control group;
a journey without a holdout has no control, and its lift says so instead of a number.

Records are deduplicated by ``outcome_id`` (the live topic is written at least once).
Receipts (``MessageSent``: the sink handed it to the provider; ``MessageDelivered``,
``MessageOpened``, ``MessageClicked`` from the provider's callbacks; ``MessageFailed``) join the
``sent`` outcome records (an action emitted) by ``action_id``; a failure whose reason mentions a
bounce counts as bounced too. Rates are over the actions emitted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from app.core.journeys.replay import time_ms
from app.report import stats
from app.report.arms import DEFAULT_BUCKET, Arms
from app.report.service import ServiceEvents

Row = dict[str, Any]

ALL = "(all)"  # the row over every variant of a journey version
NO_VARIANT = "-"
MIN_GROUP = 30  # below this many entries in a group, the verdict says "too few to judge"

RECEIPT_KINDS = {
    "MessageSent": "sent",
    "MessageDelivered": "delivered",
    "MessageOpened": "opened",
    "MessageClicked": "clicked",
    "MessageFailed": "failed",
}


@dataclass(slots=True)
class Entry:
    """What the records say about one entry, in whatever order they came."""

    customer: str
    journey: str
    version: int
    control: bool
    start: int | None = None  # the entered record's time (None: not seen)
    variant: tuple[int, str] | None = None  # (time, variant) of the latest record naming one
    converted: bool = False
    has_goal: bool = True  # the entered record says whether the journey has a goal
    category: str | None = None
    global_control: bool = False  # the customer is in the policies' global control group
    ending: str | None = None  # goal, exited:<reason>, ended; None while active
    steps: list[tuple[int, str]] = field(default_factory=list)  # (time, step)
    #: step -> its position in the journey file (records written before it was recorded: none)
    positions: dict[str, int] = field(default_factory=dict)
    time_to_goal: int | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)  # (action id, channel)
    withheld: list[tuple[str, str]] = field(default_factory=list)  # (kind, reason)
    choices: list[tuple[str, str]] = field(default_factory=list)  # (step, choice label)
    latencies: list[int] = field(default_factory=list)


@dataclass
class Report:
    """Every table as rows of plain values (for text, CSV, JSON and HTML alike)."""

    lift: list[Row]
    programme: list[Row]
    funnel: list[Row]
    time_to_goal: list[Row]
    step_times: list[Row]
    channels: list[Row]
    suppressions: list[Row]
    decisions: list[Row]
    decision_latency: list[Row]
    endings: list[Row]
    records: int
    duplicates: int
    service: list[Row] = field(default_factory=list)
    cohorts: list[Row] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    #: adaptive steps' arms over time (arms.py); empty without adaptive records, and then left
    #: out of ``tables()`` so that such a report is what it was before adaptive steps existed
    arms: list[Row] = field(default_factory=list)
    arms_bucket: str = DEFAULT_BUCKET
    arms_unattributed: int = 0

    def tables(self) -> dict[str, list[Row]]:
        return {
            "lift": self.lift,
            "programme": self.programme,
            "funnel": self.funnel,
            "time_to_goal": self.time_to_goal,
            "step_times": self.step_times,
            "channels": self.channels,
            "suppressions": self.suppressions,
            "decisions": self.decisions,
            "decision_latency": self.decision_latency,
            "endings": self.endings,
            "service": self.service,
            "cohorts": self.cohorts,
        } | ({"arms": self.arms} if self.arms else {})


class Builder:
    """Feed outcome records (``add``) and receipts (``add_receipt``) in any order, then
    ``build()``: the tables depend on the set of records only."""

    def __init__(
        self, since: int | None = None, until: int | None = None, arms_bucket: str = DEFAULT_BUCKET
    ) -> None:
        self.since, self.until = since, until
        self.arms_bucket = arms_bucket  # arms.py: 1h, 6h, 1d, 7d or auto
        self.arms = Arms()
        self.entries: dict[tuple[str, str, int], Entry] = {}
        self.seen: set[str] = set()
        self.records = 0
        self.duplicates = 0
        self.receipts: dict[str, set[str]] = defaultdict(set)  # action id -> kinds seen
        self.service = ServiceEvents()
        self.events = 0

    def add(self, record: dict[str, Any]) -> None:
        oid = record["outcome_id"]
        if oid in self.seen:
            self.duplicates += 1
            return
        self.seen.add(oid)
        self.records += 1
        kind = record["kind"]
        key = (record["customer_id"], record["journey"], record["entry"])
        at = time_ms(record["event_time"])
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = Entry(
                record["customer_id"],
                record["journey"],
                record["journey_version"],
                bool(record["control"]),
            )
        variant = record.get("variant")
        if variant is not None and (entry.variant is None or entry.variant[0] <= at):
            entry.variant = (at, variant)
        if kind == "entered":
            entry.start = at
            entry.has_goal = record.get("goal", "") is not None
            entry.category = record.get("category")
            entry.global_control = bool(record.get("global_control"))
        elif kind == "step":
            entry.steps.append((at, record["step"]))
            if type(record.get("step_index")) is int:
                entry.positions[record["step"]] = record["step_index"]
        elif kind == "goal":
            entry.converted = True
            entry.ending = "goal"
            entry.time_to_goal = record.get("time_to_goal_ms")
        elif kind == "exited":
            entry.ending = f"exited:{record.get('reason')}"
        elif kind == "ended":
            entry.ending = "ended"
        elif kind == "sent":
            entry.sent.append((record["action_id"], record["channel"]))
        elif kind in ("suppressed", "held_out"):
            entry.withheld.append((kind, record.get("reason") or "?"))
        elif kind == "decided":
            choice = record.get("choice")
            if choice is None:
                label = "(none eligible)"
            elif record.get("channel") is None:
                label = f"{choice} (do nothing)"
            else:
                label = choice
            entry.choices.append((record["step"], label))
        decided_at, source = record.get("decided_at"), record.get("source_timestamp")
        if decided_at and source and kind in ("sent", "decided"):
            entry.latencies.append(time_ms(decided_at) - time_ms(source))
        self.arms.add(record)

    def add_event(self, event: dict[str, Any]) -> None:
        """An input event, for the service and loyalty figures (service.py)."""
        self.events += 1
        self.service.add(event)

    def add_receipt(self, event: dict[str, Any]) -> None:
        props = event.get("properties") or {}
        action_id = props.get("action_id")
        kind = RECEIPT_KINDS.get(event.get("type", ""))
        if not action_id or kind is None:
            return
        self.receipts[action_id].add(kind)
        if kind == "failed" and "bounce" in str(props.get("reason", "")).lower():
            self.receipts[action_id].add("bounced")

    # -- the tables ------------------------------------------------------------------------------

    def _in_range(self) -> list[Entry]:
        """Entries whose ``entered`` record lies in the range (records of an entry that
        started before the records begin, or outside the range, are left out)."""
        return [e for e in self.entries.values() if self._counts(e)]

    def _counts(self, e: Entry) -> bool:
        since, until = self.since, self.until
        return (
            e.start is not None
            and (since is None or e.start >= since)
            and (until is None or e.start < until)
        )

    def _counted(self, key: tuple[str, str, int]) -> bool:
        entry = self.entries.get(key)
        return entry is not None and self._counts(entry)

    def build(self) -> Report:
        entries = self._in_range()
        groups: dict[tuple[str, int, str], list[Entry]] = defaultdict(list)
        for entry in entries:
            variant = entry.variant[1] if entry.variant else NO_VARIANT
            groups[entry.journey, entry.version, variant].append(entry)
            groups[entry.journey, entry.version, ALL].append(entry)
        for key in [k for k in groups if k[2] == ALL]:  # one variant only: its row says it all
            if sum(1 for k in groups if k[:2] == key[:2]) == 2:
                del groups[key]
        ordered = sorted(groups, key=lambda k: (k[0], k[1], k[2] != ALL, k[2]))
        ranks = step_ranks(entries)
        withheld: Counter[tuple[str, str, str]] = Counter()
        choices: Counter[tuple[str, str, str]] = Counter()
        latencies: list[int] = []
        joined = members(entries)
        for e in entries:
            withheld.update((e.journey, kind, reason) for kind, reason in e.withheld)
            choices.update((e.journey, step, label) for step, label in e.choices)
            latencies.extend(e.latencies)
        arms = self.arms.table(self.arms_bucket, self._counted)
        return Report(
            lift=[lift_row(k, groups[k]) for k in ordered],
            programme=programme_rows(entries),
            funnel=funnel_rows(groups, ordered, ranks),
            time_to_goal=time_to_goal_rows(entries),
            step_times=step_time_rows(entries, ranks),
            channels=self._channels(entries),
            suppressions=[
                {"journey": j, "decision": kind, "reason": reason, "sends": n}
                for (j, kind, reason), n in sorted(withheld.items())
            ],
            decisions=decision_rows(choices),
            decision_latency=latency_rows(latencies),
            endings=ending_rows(entries),
            records=self.records,
            duplicates=self.duplicates,
            service=self.service.rows(joined) if self.events else [],
            cohorts=self.service.cohort_rows(joined) if self.events else [],
            arms=arms.rows,
            arms_bucket=arms.bucket,
            arms_unattributed=arms.unattributed,
        )

    def _channels(self, entries: list[Entry]) -> list[Row]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for e in entries:
            for action_id, channel in e.sent:
                c = counts[channel]
                c["emitted"] += 1
                c.update(self.receipts.get(action_id, ()))
        rows = []
        for channel, c in sorted(counts.items()):
            row: Row = {"channel": channel, "emitted": c["emitted"]}
            for kind in ("sent", "delivered", "opened", "clicked", "failed", "bounced"):
                row[kind] = c[kind]
                row[f"{kind}_rate"] = c[kind] / c["emitted"]
            rows.append(row)
        return rows


Ranks = dict[tuple[str, int], dict[str, tuple[int, int, int, str]]]


def step_ranks(entries: list[Entry]) -> Ranks:
    """Per journey version, each step's place in its funnel: its position in the journey file
    (``step_index``); for records without one, most entries reaching it first, then the
    earliest median time from the entry's start, then the id. Either way it depends on the
    records, never on the order they came in."""
    reached: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    offsets: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    positions: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    for e in entries:
        assert e.start is not None
        positions[e.journey, e.version].update(e.positions)
        seen = set()
        for at, step in e.steps:
            if step not in seen:
                seen.add(step)
                reached[e.journey, e.version][step] += 1
                offsets[e.journey, e.version, step].append(at - e.start)
    ranks: Ranks = {}
    for (journey, version), counts in reached.items():
        ranks[journey, version] = {}
        known = positions[journey, version]
        for step, n in counts.items():
            if step in known:
                ranks[journey, version][step] = (0, known[step], 0, step)
            else:
                median = stats.quantile(sorted(offsets[journey, version, step]), 0.5) or 0
                ranks[journey, version][step] = (1, -n, int(median), step)
    return ranks


def members(entries: list[Entry]) -> dict[str, dict[str, tuple[int, bool]]]:
    """journey -> customer -> (first entry time, in the journey's control group)."""
    out: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)
    for e in entries:
        assert e.start is not None
        known = out[e.journey].get(e.customer)
        if known is None or e.start < known[0]:
            out[e.journey][e.customer] = (e.start, e.control)
    return out


def funnel_rows(
    groups: dict[tuple[str, int, str], list[Entry]],
    ordered: list[tuple[str, int, str]],
    ranks: Ranks,
) -> list[Row]:
    rows = []
    for key in ordered:
        journey, version, variant = key
        rank = ranks.get((journey, version), {})
        for control in (False, True):
            group = [e for e in groups[key] if e.control is control]
            if not group:
                continue
            reached: Counter[str] = Counter()
            for e in group:
                reached.update({step for _, step in e.steps})
            previous = len(group)
            for step in sorted(reached, key=lambda s: rank.get(s, (1, 0, 0, s))):
                n = reached[step]
                rows.append(
                    {
                        "journey": journey,
                        "version": version,
                        "variant": variant,
                        "group": "control" if control else "treatment",
                        "step": step,
                        "entries": len(group),
                        "reached": n,
                        "share": n / len(group),
                        # after a branch, a step can be reached by more entries than the
                        # step before it in the file: no drop-off there
                        "drop_off_from_previous": (previous - n) / previous
                        if previous and n <= previous
                        else None,
                    }
                )
                previous = n
    return rows


def time_to_goal_rows(entries: list[Entry]) -> list[Row]:
    times: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for e in entries:
        if e.converted and e.time_to_goal is not None:
            group = "control" if e.control else "treatment"
            times[e.journey, e.version, group].append(e.time_to_goal)
    return [
        {"journey": j, "version": v, "group": g, **quantile_row(sorted(values))}
        for (j, v, g), values in sorted(times.items())
    ]


def step_time_rows(entries: list[Entry], ranks: Ranks) -> list[Row]:
    """Time from one step to the next within entries (steps of one moment by funnel rank)."""
    gaps: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for e in entries:
        rank = ranks.get((e.journey, e.version), {})
        path = sorted(e.steps, key=lambda s: (s[0], rank.get(s[1], (1, 0, 0, s[1]))))
        for (ta, a), (tb, b) in pairwise(path):
            if a != b:
                gaps[e.journey, a, b].append(tb - ta)
    return [
        {"journey": j, "from_step": a, "to_step": b, **quantile_row(sorted(values))}
        for (j, a, b), values in sorted(gaps.items())
    ]


def decision_rows(choices: Counter[tuple[str, str, str]]) -> list[Row]:
    totals: Counter[tuple[str, str]] = Counter()
    for (j, step, _), n in choices.items():
        totals[j, step] += n
    return [
        {"journey": j, "step": step, "choice": c, "count": n, "share": n / totals[j, step]}
        for (j, step, c), n in sorted(choices.items())
    ]


def ending_rows(entries: list[Entry]) -> list[Row]:
    counts: Counter[tuple[str, int, str, str]] = Counter()
    for e in entries:
        group = "control" if e.control else "treatment"
        counts[e.journey, e.version, group, e.ending or "active"] += 1
    return [
        {"journey": j, "version": v, "group": g, "ending": ending, "entries": n}
        for (j, v, g, ending), n in sorted(counts.items())
    ]


def programme_rows(entries: list[Entry]) -> list[Row]:
    """The whole programme against the global control group, per category it holds out: every
    entry (of a journey with a goal) of a customer in the global control group against every
    entry of the others, journey control groups left out. Empty without a global control."""
    held = {e.category for e in entries if e.global_control}
    rows = []
    for category in sorted(c for c in held if c is not None):
        members = [
            e
            for e in entries
            if e.category == category and e.has_goal and (e.global_control or not e.control)
        ]
        rows.append(lift_row((f"(all {category} journeys)", 0, ALL), members, global_group=True))
    return rows


def lift_row(key: tuple[str, int, str], entries: list[Entry], global_group: bool = False) -> Row:
    """Treatment against control: the journey's control group, or (``global_group``) the
    policies' global control group."""
    journey, version, variant = key
    if global_group:
        treated = [e for e in entries if not e.global_control]
        control = [e for e in entries if e.global_control]
    else:
        treated = [e for e in entries if not e.control]
        control = [e for e in entries if e.control]
    n1, n2 = len(treated), len(control)
    k1 = sum(e.converted for e in treated)
    k2 = sum(e.converted for e in control)
    row: Row = {
        "journey": journey,
        "version": version,
        "variant": variant,
        "entries": n1,
        "conversions": k1,
        "rate": k1 / n1 if n1 else None,
        "control_entries": n2,
        "control_conversions": k2,
        "control_rate": k2 / n2 if n2 else None,
        "lift": None,
        "lift_low": None,
        "lift_high": None,
        "p_value": None,
        "test": None,
        "needed_per_group": None,
    }
    if not any(e.has_goal for e in entries):
        row.update(conversions=None, rate=None, control_conversions=None, control_rate=None)
        row["verdict"] = "no goal (the journey measures no conversion)"
        return row
    if not n1 or not n2:
        row["verdict"] = "no control group" if n1 else "control only"
        return row
    delta, low, high, p = stats.compare(k1, n1, k2, n2)
    needed = stats.sample_size(k1 / n1, k2 / n2)
    row.update(lift=delta, lift_low=low, lift_high=high, p_value=p, needed_per_group=needed)
    row["test"] = "Fisher exact (two-sided)"
    row["verdict"] = verdict(n1, n2, low, high, p, needed)
    return row


def verdict(n1: int, n2: int, low: float, high: float, p: float | None, needed: int | None) -> str:
    """One phrase an analyst can act on; never "significant" on too few entries."""
    if min(n1, n2) < MIN_GROUP:
        return f"too few to judge (fewer than {MIN_GROUP} entries in a group)"
    if p is not None and p < 0.05:
        return "lift" if low > 0 else "harm" if high < 0 else "different"
    if needed is None:
        return "no difference observed"
    if min(n1, n2) < needed:
        return f"not significant; ~{needed:,} entries per group would detect this difference"
    return "not significant"


def quantile_row(ordered: list[int]) -> Row:
    """Count and p50/p90/max of sorted millisecond values, in seconds."""

    def seconds(q: float) -> float | None:
        value = stats.quantile(ordered, q)
        return None if value is None else value / 1000

    return {
        "count": len(ordered),
        "p50_s": seconds(0.5),
        "p90_s": seconds(0.9),
        "max_s": seconds(1.0),
    }


def latency_rows(latencies: list[int]) -> list[Row]:
    """Decision latency (live records only: decided_at - the input's broker time)."""
    if not latencies:
        return []
    ordered = sorted(latencies)
    return [
        {
            "count": len(ordered),
            "p50_ms": stats.quantile(ordered, 0.5),
            "p99_ms": stats.quantile(ordered, 0.99),
            "max_ms": ordered[-1],
        }
    ]


def build_report(
    outcomes: Iterable[dict[str, Any]],
    receipts: Iterable[dict[str, Any]] = (),
    since: int | None = None,
    until: int | None = None,
    events: Iterable[dict[str, Any]] = (),
    arms_bucket: str = DEFAULT_BUCKET,
) -> Report:
    builder = Builder(since, until, arms_bucket)
    for record in outcomes:
        builder.add(record)
    for event in receipts:
        builder.add_receipt(event)
    for event in events:
        builder.add_event(event)
    return builder.build()
