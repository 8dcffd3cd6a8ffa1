"""Model features from the profile: the ONE function that training and the stream both call.

``churn_features(profile)`` reads ``profile["attributes"]`` (the Telco data set's columns in
snake_case, with the data set's values); ``intent_features(profile, now_ms)`` reads the current web
session (``profile["session"]``, see core/session.py) in the shape of one UCI Online Shoppers row.
Training builds a synthetic profile per data set row (app/models/datasets.py) and calls these same
functions, so train-time and stream-time features cannot drift apart (tests/unit/test_features.py).

Each returns a flat ``list[float]`` in the order of ``CHURN_FEATURES`` / ``INTENT_FEATURES``;
artifacts record those names and the loader refuses an artifact whose names differ. The fixed
transforms here (logs, hinge knots, one-hot vocabularies, interactions) are chosen by hand, not
learnt from data, so they carry no information from any test fold. Missing or malformed inputs
never raise: a missing category is all zeros in its one-hot group, a missing number is 0.
Change anything here and bump the feature set name: old artifacts then fail at load.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from app.core.session import PAGE_KINDS, VISITOR_TYPES
from app.core.timeutil import to_datetime

CHURN_FEATURE_SET = "churn-v1"
INTENT_FEATURE_SET = "intent-v1"

# --- churn: IBM Telco columns -------------------------------------------------------------------

#: attribute -> the data set's values, in one-hot order
CHURN_CATEGORIES: dict[str, tuple[str, ...]] = {
    "gender": ("Female", "Male"),
    "partner": ("No", "Yes"),
    "dependents": ("No", "Yes"),
    "phone_service": ("No", "Yes"),
    "multiple_lines": ("No", "No phone service", "Yes"),
    "internet_service": ("DSL", "Fiber optic", "No"),
    "online_security": ("No", "No internet service", "Yes"),
    "online_backup": ("No", "No internet service", "Yes"),
    "device_protection": ("No", "No internet service", "Yes"),
    "tech_support": ("No", "No internet service", "Yes"),
    "streaming_tv": ("No", "No internet service", "Yes"),
    "streaming_movies": ("No", "No internet service", "Yes"),
    "contract": ("Month-to-month", "One year", "Two year"),
    "paperless_billing": ("No", "Yes"),
    "payment_method": (
        "Bank transfer (automatic)",
        "Credit card (automatic)",
        "Electronic check",
        "Mailed check",
    ),
}
#: the Telco add-on services, each a CRM attribute (the simulator draws the same ones)
ADD_ON_ATTRIBUTES = (
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
)
#: attribute -> {value: its one-hot block}, precomputed so a lookup replaces k comparisons
_CHURN_ONEHOT: tuple[tuple[str, dict[Any, tuple[float, ...]], tuple[float, ...]], ...] = tuple(
    (
        attr,
        {
            value: tuple(1.0 if i == j else 0.0 for j in range(len(values)))
            for i, value in enumerate(values)
        },
        (0.0,) * len(values),
    )
    for attr, values in CHURN_CATEGORIES.items()
)

CHURN_FEATURES: tuple[str, ...] = (
    "senior_citizen",
    *(f"{attr}={value}" for attr, values in CHURN_CATEGORIES.items() for value in values),
    "tenure",
    "monthly_charges",
    "total_charges",
    "log1p_tenure",
    "log1p_total_charges",
    "avg_monthly_charge",  # total / tenure: what the customer paid on average
    "charge_increase",  # monthly - average: a recent price rise is a churn trigger
    "add_on_count",
    "tenure_le_6",
    "month_to_month*log1p_tenure",
    "fiber*log1p_tenure",
    "month_to_month*fiber",
    "month_to_month*electronic_check",
    "fiber*monthly_charges",
)


def _number(value: Any) -> float:
    """A float in [0, 1e9] from an attribute (numbers or numeric strings), else 0.0.

    Booleans count as 0/1 like the numbers they equal, so inputs that compare equal (and so
    share a cache key in the scorer) always give equal features.
    """
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return 0.0
    elif isinstance(value, int | float):
        value = float(value)
    else:
        return 0.0
    return value if 0.0 <= value <= 1e9 else 0.0  # beyond: junk, and products stay finite


def _flag(value: Any) -> float:
    """senior_citizen: the data set's 0/1, also true/false and Yes/No."""
    return 1.0 if value in (1, "1", "Yes", "yes") else 0.0  # True == 1 in Python


def churn_features(profile: dict[str, Any]) -> list[float]:
    """The churn model's feature vector (order: ``CHURN_FEATURES``) from ``profile.attributes``."""
    attrs = profile["attributes"]
    out = [_flag(attrs.get("senior_citizen"))]
    for attr, blocks, missing in _CHURN_ONEHOT:
        value = attrs.get(attr)
        out.extend(blocks.get(value, missing) if isinstance(value, str) else missing)
    tenure = _number(attrs.get("tenure"))
    monthly = _number(attrs.get("monthly_charges"))
    total = _number(attrs.get("total_charges"))
    average = total / tenure if tenure >= 1.0 else monthly  # tenure counts whole months
    log_tenure = math.log1p(tenure)
    mtm = 1.0 if attrs.get("contract") == "Month-to-month" else 0.0
    fiber = 1.0 if attrs.get("internet_service") == "Fiber optic" else 0.0
    echeck = 1.0 if attrs.get("payment_method") == "Electronic check" else 0.0
    add_ons = 0.0
    for attr in ADD_ON_ATTRIBUTES:
        if attrs.get(attr) == "Yes":
            add_ons += 1.0
    out += (
        tenure,
        monthly,
        total,
        log_tenure,
        math.log1p(total),
        average,
        monthly - average,
        add_ons,
        1.0 if tenure <= 6 else 0.0,
        mtm * log_tenure,
        fiber * log_tenure,
        mtm * fiber,
        mtm * echeck,
        fiber * monthly,
    )
    return out


# --- intent: UCI Online Shoppers session ---------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TRAFFIC_TYPES = tuple(range(1, 21))  # the data set's codes; others are all zeros

_PV_KNOTS = (1.0, 2.0, 3.0, 4.0, 5.0)  # on log1p(page value)
_EXIT_KNOTS = (0.01, 0.02, 0.04, 0.08)  # on the average exit rate
_PROD_DUR_KNOTS = (4.0, 6.0, 8.0)  # on log1p(product page seconds)
_PROD_KNOTS = (1.0, 2.0, 3.0, 4.0)  # on log1p(product pages)

_BASE = (
    "log1p_administrative",
    "log1p_administrative_duration",
    "log1p_informational",
    "log1p_informational_duration",
    "log1p_product_related",
    "log1p_product_related_duration",
    "bounce_rate",
    "exit_rate",
    "log1p_page_value",
    "page_value>0",
)
INTENT_FEATURES: tuple[str, ...] = (
    *_BASE,
    *(f"hinge(log1p_page_value,{k})" for k in _PV_KNOTS),
    *(f"page_value>0*{name}" for name in _BASE[:8]),
    *(f"month={m}" for m in MONTHS),
    *(f"visitor_type={v}" for v in VISITOR_TYPES),
    "weekend",
    *(f"page_value>0*month={m}" for m in MONTHS),
    *(f"page_value>0*visitor_type={v}" for v in VISITOR_TYPES),
    *(f"traffic_type={t}" for t in TRAFFIC_TYPES),
    *(f"hinge(exit_rate,{k})" for k in _EXIT_KNOTS),
    *(f"hinge(log1p_product_related_duration,{k})" for k in _PROD_DUR_KNOTS),
    *(f"hinge(log1p_product_related,{k})" for k in _PROD_KNOTS),
    *(f"page_value>0*hinge(exit_rate,{k})" for k in _EXIT_KNOTS),
    *(f"log1p_page_value*month={m}" for m in MONTHS),
    *(f"page_value>0*traffic_type={t}" for t in TRAFFIC_TYPES),
)
assert PAGE_KINDS == ("administrative", "informational", "product_related")

_DAY_MS = 86_400_000
_ZEROS = {n: (0.0,) * n for n in (3, 8, 12, 20)}
_ONEHOT = {
    n: tuple(tuple(1.0 if i == j else 0.0 for j in range(n)) for i in range(n)) for n in (3, 12, 20)
}
_VISITOR_INDEX = {v: i for i, v in enumerate(VISITOR_TYPES)}
_EMPTY_SESSION: dict[str, Any] = {
    "start": 0,
    "visitor": "New_Visitor",
    "traffic": 0,
    "pages": 0,
    "n": (0, 0, 0),
    "dur": (0.0, 0.0, 0.0),
    "bounce": 0.0,
    "exit": 0.0,
    "value": 0.0,
}


@lru_cache(maxsize=4096)
def month_and_weekend(day: int) -> tuple[int, float]:
    """(month index 0-11, 1.0 on Saturday/Sunday) of a UTC day number since the epoch."""
    moment = to_datetime(day * _DAY_MS)
    return moment.month - 1, 1.0 if moment.weekday() >= 5 else 0.0


def intent_features(profile: dict[str, Any], now_ms: int) -> list[float]:
    """The intent model's feature vector (order: ``INTENT_FEATURES``) for the current session.

    Month and weekend are those of the session's start (UTC). A customer who never browsed is
    scored as an empty new-visitor session starting ``now_ms``.
    """
    session = profile.get("session")
    if session is None:
        session = _EMPTY_SESSION
        start = now_ms
    else:
        start = session["start"]
    pages = session["pages"]
    n = session["n"]
    dur = session["dur"]
    log1p = math.log1p
    if pages:
        bounce = session["bounce"] / pages
        exit_rate = session["exit"] / pages
        value = session["value"] / pages
    else:
        bounce = exit_rate = value = 0.0
    lpv = log1p(value)
    lp = log1p(n[2])
    lpd = log1p(dur[2])
    pos = value > 0.0
    base = [
        log1p(n[0]),
        log1p(dur[0]),
        log1p(n[1]),
        log1p(dur[1]),
        lp,
        lpd,
        bounce,
        exit_rate,
        lpv,
        1.0 if pos else 0.0,
    ]
    month, weekend = month_and_weekend(start // _DAY_MS)
    months = _ONEHOT[12][month]
    visitor = _VISITOR_INDEX.get(session["visitor"])
    visitors = _ZEROS[3] if visitor is None else _ONEHOT[3][visitor]
    traffic = session["traffic"]
    traffics = _ONEHOT[20][traffic - 1] if 1 <= traffic <= 20 else _ZEROS[20]
    exit_hinges = [max(0.0, exit_rate - k) for k in _EXIT_KNOTS]
    out = base
    out += [max(0.0, lpv - k) for k in _PV_KNOTS]
    out += base[:8] if pos else _ZEROS[8]
    out += months
    out += visitors
    out.append(weekend)
    out += months if pos else _ZEROS[12]
    out += visitors if pos else _ZEROS[3]
    out += traffics
    out += exit_hinges
    out += [max(0.0, lpd - k) for k in _PROD_DUR_KNOTS]
    out += [max(0.0, lp - k) for k in _PROD_KNOTS]
    out += exit_hinges if pos else (0.0, 0.0, 0.0, 0.0)
    out += [lpv if i == month else 0.0 for i in range(12)]
    out += traffics if pos else _ZEROS[20]
    return out
