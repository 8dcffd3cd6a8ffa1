"""The customer's current web session, folded from browsing events (for the intent model).

``profile["session"]`` is a compact dict (absent until the first browsing event), in the shape of
one row of the UCI Online Shoppers data set, kept as counts and sums so that folding is O(1):

``id``        the producer's ``session_id`` (None if it sent none)
``start``     epoch ms of the session's first event (month and weekend are derived from it)
``last``      epoch ms of the session's latest event (for the 30 minute inactivity rule)
``visitor``   ``Returning_Visitor`` | ``New_Visitor`` | ``Other``
``os``, ``browser``, ``region``, ``traffic``   the integer codes of ``SessionStarted``
``pages``     page views of a known kind (the denominator of the average rates below)
``n``         page views per kind ``[administrative, informational, product_related]``
``dur``       seconds spent per kind, same order
``bounce``, ``exit``, ``value``   sums of the pages' bounce rate, exit rate and page value

Rules (see docs/models.md):
- ``SessionStarted`` always starts a new session.
- A page view starts a new session when there is none, when more than 30 minutes passed since the
  session's last event, or when it names a ``session_id`` other than the current one's (when
  both have one). Such an
  implicit session keeps the device fields of the previous one and counts as a returning visit.
- ``ProductViewed`` is a page view of kind ``product_related``. A page view of an unknown kind is
  ignored. Non-numeric, negative or absurd (> 1e9) durations, rates and values count as 0.
- Late events (older than the session's last event) are added to the session but never move
  ``last`` backwards; events older than the session's start are ignored.
"""

from __future__ import annotations

from typing import Any

SESSION_GAP_MS = 30 * 60 * 1000  # the inactivity gap that ends a web session (GA's convention)

PAGE_KINDS = ("administrative", "informational", "product_related")
_KIND_INDEX = {kind: i for i, kind in enumerate(PAGE_KINDS)}
_PRODUCT = _KIND_INDEX["product_related"]

VISITOR_TYPES = ("Returning_Visitor", "New_Visitor", "Other")

SESSION_EVENTS = frozenset({"SessionStarted", "PageViewed", "ProductViewed"})


MAX_VALUE = 1e9  # larger durations, rates or values are junk; capping keeps sums finite


def _num(value: Any) -> float:
    """A float in [0, MAX_VALUE] from an event property, 0.0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    value = float(value)
    return value if 0.0 <= value <= MAX_VALUE else 0.0


def _code(value: Any) -> int:
    """An integer category code (os, browser, region, traffic type), 0 when absent or invalid."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value


def new_session(
    ts: int,
    session_id: Any = None,
    visitor: str = "New_Visitor",
    os: int = 0,
    browser: int = 0,
    region: int = 0,
    traffic: int = 0,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "start": ts,
        "last": ts,
        "visitor": visitor,
        "os": os,
        "browser": browser,
        "region": region,
        "traffic": traffic,
        "pages": 0,
        "n": [0, 0, 0],
        "dur": [0.0, 0.0, 0.0],
        "bounce": 0.0,
        "exit": 0.0,
        "value": 0.0,
    }


def _started(profile: dict[str, Any], ts: int, props: dict[str, Any]) -> None:
    visitor = props.get("visitor_type")
    if visitor not in VISITOR_TYPES:
        # Not told: a customer we have seen browse before is returning, else new.
        visitor = "Returning_Visitor" if "session" in profile else "New_Visitor"
    profile["session"] = new_session(
        ts,
        props.get("session_id"),
        visitor,
        _code(props.get("operating_system")),
        _code(props.get("browser")),
        _code(props.get("region")),
        _code(props.get("traffic_type")),
    )


def _implicit(previous: dict[str, Any] | None, ts: int, session_id: Any) -> dict[str, Any]:
    """A session opened by a page view: same device as before, a returning visit if any."""
    if previous is None:
        return new_session(ts, session_id)
    return new_session(
        ts,
        session_id,
        "Returning_Visitor",
        previous["os"],
        previous["browser"],
        previous["region"],
        previous["traffic"],
    )


def fold_session(profile: dict[str, Any], event: dict[str, Any]) -> None:
    """Fold a browsing event into ``profile["session"]`` (in place); other events are ignored."""
    etype = event["type"]
    if etype not in SESSION_EVENTS:
        return
    ts = event["ts"]
    props = event["properties"]
    if etype == "SessionStarted":
        _started(profile, ts, props)
        return
    if etype == "ProductViewed":
        kind = _PRODUCT
    else:
        page_type = props.get("page_type")
        found = _KIND_INDEX.get(page_type) if isinstance(page_type, str) else None
        if found is None:
            return
        kind = found
    session = profile.get("session")
    session_id = props.get("session_id")
    if (
        session is None
        or ts - session["last"] > SESSION_GAP_MS
        or (session_id is not None and session["id"] is not None and session_id != session["id"])
    ):
        session = _implicit(session, ts, session_id)
        profile["session"] = session
    elif ts < session["start"]:
        return
    elif ts > session["last"]:
        session["last"] = ts
    session["pages"] += 1
    session["n"][kind] += 1
    session["dur"][kind] += _num(props.get("duration_s"))
    session["bounce"] += _num(props.get("bounce_rate"))
    session["exit"] += _num(props.get("exit_rate"))
    session["value"] += _num(props.get("page_value"))
