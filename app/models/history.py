"""Training rows from Segue's own history: events folded with the real profile fold, features
from the same ``app.core.features`` functions the stream scores with (``segue models retrain``).

Pure: no Kafka, no scikit-learn, no wall clock. The caller gives the events in replay order
(``order_events``: time, then event id) and, for identity, the links :func:`identity_links`
found in a first pass over the same events.

Identity: an anonymous visitor who is later linked to a customer (an event carrying both a
``customer_id`` and an ``anonymous_id``, e.g. a login's ``Identify``) is folded under the
customer from the start, which is what the live identity merge yields for the session and the
profile; other keys stay as they are.

Intent, one row per web session (``profile["session"]``, app/core/session.py):

- features: ``intent_features`` of the session as it stood just before its first order (the
  session is only changed by browsing events, so that is its state when ``OrderPlaced`` arrives),
  or as it ended (when a new session replaced it, or at the end of the history);
- label 1 when an ``OrderPlaced`` of the same customer arrives while the session is the current
  one and at most ``ORDER_WINDOW_MS`` (30 minutes, the session gap) after its last page;
  0 otherwise;
- time: the session's last page before the order (or its last page); the label is known
  ``ORDER_WINDOW_MS`` later. A session not ordered whose window is still open at the end of the
  history is censored (no row).

Churn, one row per customer per cutoff. The event vocabulary has no cancellation event, so churn
is *inactivity*: a customer churned at a cutoff ``c`` when they were active in the ``horizon``
before ``c`` and show no activity in the ``horizon`` after it. Activity is any event the customer
made themselves: every type except ``NOT_ACTIVITY`` (CRM syncs, Segue's own deliveries, the
payment provider's reports, system timers). Cutoffs are ``end - horizon - k * step`` (``end`` the
last event's time) for ``k = 0, 1, ...`` while at least one ``horizon`` of history lies before
them. Eligible customers at ``c``: active in ``[c - horizon, c)`` and holding a CRM record (at
least one attribute ``churn_features`` reads). Features: ``churn_features`` of the profile as
folded up to ``c``. Time ``c``; the label is known at ``c + horizon``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.features import CHURN_CATEGORIES, churn_features, intent_features
from app.core.profile import fold, new_profile
from app.core.session import SESSION_GAP_MS

Event = dict[str, Any]

DAY_MS = 86_400_000
#: an order counts for a session when it comes at most this long after the session's last page
ORDER_WINDOW_MS = SESSION_GAP_MS
#: event types that are not the customer's own activity (the churn signal ignores them)
NOT_ACTIVITY = frozenset(
    {
        "ProfileUpdated",  # a CRM sync
        "MessageSent",  # Segue's own deliveries, fed back as receipts
        "MessageDelivered",
        "MessageFailed",
        "PaymentSucceeded",  # the payment provider's reports (an order precedes them)
        "PaymentFailed",
        "PaymentRetried",
        "CartAbandoned",  # system timers: the absence of an action
        "AppointmentMissed",
    }
)
#: the attributes that make a CRM record (what ``churn_features`` reads)
CRM_ATTRIBUTES = frozenset(
    {"senior_citizen", "tenure", "monthly_charges", "total_charges", *CHURN_CATEGORIES}
)
MODELS = ("churn", "intent")


@dataclass(slots=True)
class Row:
    """One training example: features at ``time``, its label known at ``known_at``."""

    time: int
    known_at: int
    key: str
    features: list[float]
    label: int


@dataclass(slots=True)
class History:
    churn: list[Row] = field(default_factory=list)
    intent: list[Row] = field(default_factory=list)
    events: int = 0
    customers: int = 0
    cutoffs: list[int] = field(default_factory=list)
    #: sessions whose label the history cannot know yet (ended too near its end)
    censored_sessions: int = 0

    def rows(self, name: str) -> list[Row]:
        return self.churn if name == "churn" else self.intent


@dataclass(slots=True)
class Split:
    train: list[Row]
    test: list[Row]
    #: the holdout starts here: test rows have time >= boundary, train rows known_at <= it
    boundary: int
    #: older rows whose label was only known inside the holdout period (used by neither side)
    dropped: int


def identity_links(events: Iterable[Event]) -> dict[str, str]:
    """anonymous id -> the customer it was first linked to, by an event carrying both."""
    links: dict[str, str] = {}
    for event in events:
        anonymous, customer = event.get("anonymous_id"), event.get("customer_id")
        if anonymous and customer and anonymous not in links:
            links[anonymous] = customer
    return links


def cutoffs(first: int, last: int, horizon_ms: int, step_ms: int) -> list[int]:
    """The churn cutoffs, oldest first (see the module doc)."""
    found = []
    c = last - horizon_ms
    while c - horizon_ms >= first:
        found.append(c)
        c -= step_ms
    return found[::-1]


class _Customer:
    __slots__ = ("last_active", "profile", "session", "session_done")

    def __init__(self, key: str) -> None:
        self.profile: dict[str, Any] = new_profile(key)
        self.last_active: int | None = None
        self.session: dict[str, Any] | None = None  # the current session object (identity)
        self.session_done = False  # its row is written (it ordered)


def build_history(
    events: Iterable[Event],
    links: dict[str, str],
    first: int,
    last: int,
    horizon_days: float = 30.0,
    step_days: float = 7.0,
) -> History:
    """Fold ``events`` (in replay order, between ``first`` and ``last``) and collect the rows."""
    horizon, step = int(horizon_days * DAY_MS), int(step_days * DAY_MS)
    if horizon <= 0 or step <= 0:
        raise ValueError("the churn horizon and the cutoff step must be positive")
    history = History(cutoffs=cutoffs(first, last, horizon, step))
    customers: dict[str, _Customer] = {}
    pending_cutoffs = list(history.cutoffs)
    #: open churn rows, per cutoff: key -> row (label 1 until the customer shows activity)
    open_rows: list[tuple[int, dict[str, Row]]] = []

    def take_cutoff(c: int) -> None:
        rows: dict[str, Row] = {}
        for key, customer in customers.items():
            active = customer.last_active
            profile = customer.profile
            if active is None or active < c - horizon:
                continue
            if not CRM_ATTRIBUTES.intersection(profile["attributes"]):
                continue
            row = Row(c, c + horizon, key, churn_features(profile), 1)
            rows[key] = row
            history.churn.append(row)
        open_rows.append((c, rows))

    def session_row(customer: _Customer, session: dict[str, Any], label: int) -> None:
        at = session["last"]
        features = intent_features({"session": session}, at)
        key = customer.profile["id"]
        history.intent.append(Row(at, at + ORDER_WINDOW_MS, key, features, label))

    def session_over(customer: _Customer, now: int) -> None:
        """The current session is over (replaced, or the history ends at ``now``)."""
        session = customer.session
        if session is None or customer.session_done:
            return
        if session["last"] + ORDER_WINDOW_MS <= now:
            session_row(customer, session, 0)
        else:
            history.censored_sessions += 1

    for event in events:
        ts = event["ts"]
        while pending_cutoffs and pending_cutoffs[0] <= ts:
            take_cutoff(pending_cutoffs.pop(0))
        history.events += 1
        own: str = event["key"]
        key = links.get(own, own)
        customer = customers.get(key)
        if customer is None:
            customer = customers[key] = _Customer(key)
        etype = event["type"]
        if etype not in NOT_ACTIVITY:
            if customer.last_active is None or ts > customer.last_active:
                customer.last_active = ts
            for c, rows in open_rows:
                if c <= ts < c + horizon:
                    row = rows.pop(key, None)
                    if row is not None:
                        row.label = 0
        session = customer.session
        if (
            etype == "OrderPlaced"
            and session is not None
            and not customer.session_done
            and session["start"] <= ts <= session["last"] + ORDER_WINDOW_MS
        ):
            session_row(customer, session, 1)
            customer.session_done = True
        fold(customer.profile, event)
        now_session = customer.profile.get("session")
        if now_session is not session:
            # a new session replaced it: not ordered while it was the current one
            if session is not None and not customer.session_done:
                session_row(customer, session, 0)
            customer.session = now_session
            customer.session_done = False
        if open_rows and open_rows[0][0] + horizon <= ts:
            open_rows.pop(0)  # its labels are final
    while pending_cutoffs:  # (cannot happen for cutoffs derived from ``last``; kept for safety)
        take_cutoff(pending_cutoffs.pop(0))
    for customer in customers.values():
        session_over(customer, last)
    history.customers = len(customers)
    history.intent.sort(key=lambda row: (row.time, row.key))
    return history


def history_from_events(
    events: list[Event], horizon_days: float = 30.0, step_days: float = 7.0
) -> History:
    """:func:`build_history` of validated events in any order (tests, small inputs)."""
    from app.core.journeys.replay import order_events

    ordered = order_events(events)
    if not ordered:
        return History()
    return build_history(
        ordered,
        identity_links(ordered),
        ordered[0]["ts"],
        ordered[-1]["ts"],
        horizon_days,
        step_days,
    )


def split_by_time(rows: list[Row], holdout: float) -> Split:
    """Hold out the most recent ``holdout`` share of the rows (by time): the test rows are those
    at or after the boundary time; the training rows those whose label was known by then."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be between 0 and 1, got {holdout}")
    ordered = sorted(rows, key=lambda row: (row.time, row.key))
    if not ordered:
        return Split([], [], 0, 0)
    index = min(len(ordered) - 1, int(len(ordered) * (1.0 - holdout)))
    boundary = ordered[index].time
    test = [row for row in ordered if row.time >= boundary]
    train = [row for row in ordered if row.time < boundary and row.known_at <= boundary]
    return Split(train, test, boundary, len(ordered) - len(test) - len(train))


def positives(rows: Iterable[Row]) -> int:
    return sum(row.label for row in rows)
