"""Service and loyalty figures per journey, its treatment customers against its control group.

A customer belongs to a journey's control group when their entries in it are (the holdout draw is
per journey and customer, so all of a customer's entries agree). For each journey, the events a
customer sent at or after their first entry in the range count toward their group:

- tickets per customer; handling time (``TicketOpened`` to ``TicketClosed`` of the same
  ``ticket_id``, median hours); first-contact resolution (the share of closed tickets not followed
  by another ``TicketOpened`` of that customer within 7 days; only tickets closed at least 7 days
  before the last event seen are judged, so a short window says "not yet known");
- ``SurveyAnswered``: CSAT (``survey: csat``, 1-5, mean), effort (``ces``, 1-7, mean), NPS
  (``nps``, 0-10: promoters 9-10 minus detractors 0-6, in points);
- value: ``OrderPlaced.total`` per customer (mean), retention (the share of customers with an
  event 7 days or more after their entry, among those whose entry was 7 days or more before the
  last event seen).
- retention and churn by entry cohort: the same 7-day retention per journey, group and the UTC
  day of the customer's first entry (their cohort), and its complement, the churn rate.

Differences of means (CSAT, effort, value per customer) come with Welch's 95 % interval and
p-value (unequal variances: the groups differ in size and spread); rates and NPS are shown per
group only. Too small a group gives no difference rather than a false one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import ttest_ind

from app.core.journeys.replay import time_ms
from app.core.timeutil import TimeFormatError, format_ms

Row = dict[str, Any]

WEEK_MS = 7 * 86_400_000
KINDS = ("TicketOpened", "TicketClosed", "SurveyAnswered", "OrderPlaced")


@dataclass
class Customer:
    """What the figures need of one customer's events."""

    opened: dict[str, int] = field(default_factory=dict)  # ticket id -> time opened
    closed: dict[str, int] = field(default_factory=dict)  # ticket id -> time closed
    surveys: list[tuple[int, str, float]] = field(default_factory=list)  # (time, survey, score)
    orders: list[tuple[int, float]] = field(default_factory=list)  # (time, total)
    seen: list[int] = field(default_factory=list)  # times of every event (retention)


class ServiceEvents:
    """Feed events (``add``), then ``rows(entries)`` with each journey's customers."""

    def __init__(self) -> None:
        self.customers: dict[str, Customer] = defaultdict(Customer)
        self.last = 0

    def add(self, event: dict[str, Any]) -> None:
        customer = event.get("customer_id")
        stamp = event.get("timestamp")
        if not customer or not isinstance(stamp, str):
            return
        try:
            at = time_ms(stamp)
        except TimeFormatError:  # a malformed event (live, the DLQ's): not a customer's
            return
        self.last = max(self.last, at)
        c = self.customers[customer]
        c.seen.append(at)
        kind, props = event.get("type"), event.get("properties") or {}
        if kind not in KINDS:
            return
        if kind == "TicketOpened" and props.get("ticket_id"):
            c.opened[str(props["ticket_id"])] = at
        elif kind == "TicketClosed" and props.get("ticket_id"):
            c.closed[str(props["ticket_id"])] = at
        elif kind == "SurveyAnswered" and _is_number(props.get("score")):
            c.surveys.append((at, str(props.get("survey")), float(props["score"])))
        elif kind == "OrderPlaced" and _is_number(props.get("total")):
            c.orders.append((at, float(props["total"])))

    def rows(self, members: dict[str, dict[str, tuple[int, bool]]]) -> list[Row]:
        """``members``: journey -> customer -> (first entry time, in the control group)."""
        rows: list[Row] = []
        for journey in sorted(members):
            groups: dict[bool, list[tuple[Customer, int]]] = {False: [], True: []}
            for customer, (start, control) in members[journey].items():
                c = self.customers.get(customer)
                groups[control].append((c if c is not None else Customer(), start))
            figures = {control: self._figures(group) for control, group in groups.items()}
            for name, test in FIGURES:
                treated, control = figures[False][name], figures[True][name]
                row: Row = {
                    "journey": journey,
                    "figure": name,
                    "treatment": _summary(treated),
                    "control": _summary(control),
                    "n_treatment": _count(treated),
                    "n_control": _count(control),
                    "difference": None,
                    "difference_low": None,
                    "difference_high": None,
                    "p_value": None,
                    "test": None,
                }
                if test and isinstance(treated, list) and isinstance(control, list):
                    row.update(welch(treated, control))
                rows.append(row)
        return rows

    def cohort_rows(self, members: dict[str, dict[str, tuple[int, bool]]]) -> list[Row]:
        """Per journey, entry day and group: customers, those observable for 7 days, retained,
        retention and churn rates (None while no one of the cohort is observable yet)."""
        counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for journey, customers in members.items():
            for customer, (start, control) in customers.items():
                c = self.customers.get(customer)
                day = format_ms(start - start % 86_400_000)[:10]
                row = counts[journey, day, "control" if control else "treatment"]
                row[0] += 1
                if start + WEEK_MS <= self.last:
                    row[1] += 1
                    row[2] += c is not None and any(t >= start + WEEK_MS for t in c.seen)
        rows: list[Row] = []
        for (journey, day, group), (entered, observable, retained) in sorted(counts.items()):
            rate = retained / observable if observable else None
            rows.append(
                {
                    "journey": journey,
                    "cohort": day,
                    "group": group,
                    "customers": entered,
                    "observable": observable,
                    "retained": retained,
                    "retention_rate": rate,
                    "churn_rate": None if rate is None else 1 - rate,
                }
            )
        return rows

    def _figures(self, group: list[tuple[Customer, int]]) -> dict[str, Any]:
        tickets, handling, resolved, judged = 0, [], 0, 0
        csat: list[float] = []
        ces: list[float] = []
        nps: list[float] = []
        value: list[float] = []
        retained, observable = 0, 0
        for c, start in group:
            opens = sorted(t for t in c.opened.values() if t >= start)
            tickets += len(opens)
            for ticket, opened in c.opened.items():
                closed = c.closed.get(ticket)
                if opened < start or closed is None:
                    continue
                handling.append((closed - opened) / 3_600_000)
                if closed + WEEK_MS <= self.last:
                    judged += 1
                    if not any(closed < t <= closed + WEEK_MS for t in opens):
                        resolved += 1
            for at, survey, score in c.surveys:
                if at >= start:
                    {"csat": csat, "ces": ces, "nps": nps}.get(survey, []).append(score)
            value.append(sum(total for at, total in c.orders if at >= start))
            if start + WEEK_MS <= self.last:
                observable += 1
                retained += any(t >= start + WEEK_MS for t in c.seen)
        customers = len(group)
        return {
            "customers": customers,
            "tickets per customer": tickets / customers if customers else None,
            "handling time (median hours)": statistics.median(handling) if handling else None,
            "first-contact resolution": resolved / judged if judged else None,
            "CSAT (1-5)": csat,
            "customer effort (1-7)": ces,
            "NPS": _nps(nps),
            "value per customer": value,
            "retention after 7 days": retained / observable if observable else None,
        }


#: (figure, whether a difference of means is computed for it)
FIGURES = (
    ("customers", False),
    ("tickets per customer", False),
    ("handling time (median hours)", False),
    ("first-contact resolution", False),
    ("CSAT (1-5)", True),
    ("customer effort (1-7)", True),
    ("NPS", False),
    ("value per customer", True),
    ("retention after 7 days", False),
)


def welch(a: list[float], b: list[float]) -> Row:
    """Difference of means (a - b), Welch's 95 % interval and two-sided p-value."""
    if len(a) < 2 or len(b) < 2 or (statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0):
        return {}
    result = ttest_ind(a, b, equal_var=False)
    interval = result.confidence_interval(0.95)
    return {
        "difference": statistics.fmean(a) - statistics.fmean(b),
        "difference_low": float(interval.low),
        "difference_high": float(interval.high),
        "p_value": float(result.pvalue),
        "test": "Welch t (two-sided)",
    }


def _nps(scores: list[float]) -> float | None:
    if not scores:
        return None
    promoters = sum(s >= 9 for s in scores)
    detractors = sum(s <= 6 for s in scores)
    return 100 * (promoters - detractors) / len(scores)


def _summary(value: Any) -> Any:
    if isinstance(value, list):
        return statistics.fmean(value) if value else None
    return value


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
