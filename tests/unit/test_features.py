"""Feature parity: the vectors training computes equal those the stream computes, bit for bit.

Training maps each data set row to a profile (app/models/datasets.py). The stream builds the
profile by folding events. For EVERY row of both data sets we turn the row into the events a
producer would send, fold them through the real envelope validation and profile folding, and
require the same feature vector as training's, with exact float equality.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.envelope import validate_event
from app.core.features import (
    CHURN_FEATURES,
    INTENT_FEATURES,
    churn_features,
    intent_features,
    month_and_weekend,
)
from app.core.profile import fold, new_profile
from app.core.timeutil import format_ms, parse_rfc3339
from app.models import datasets
from app.paths import MODELS_DIR

DATA = MODELS_DIR / "data"


def envelope(n: int, etype: str, ts: int, props: dict[str, Any]) -> dict[str, Any]:
    raw = {
        "event_id": f"e-{n}",
        "type": etype,
        "customer_id": "c-1",
        "timestamp": format_ms(ts),
        "properties": props,
    }
    return validate_event(orjson.loads(orjson.dumps(raw)))  # as it arrives off the wire


def telco_events(row: dict[str, str]) -> list[dict[str, Any]]:
    """A ProfileUpdated carrying the row's CRM attributes (blank TotalCharges: not sent)."""
    props: dict[str, Any] = {}
    for column, attr in datasets.TELCO_COLUMNS.items():
        value = row[column].strip()
        if column in ("SeniorCitizen", "tenure"):
            props[attr] = int(value)
        elif column in ("MonthlyCharges", "TotalCharges"):
            if value:
                props[attr] = float(value)
        else:
            props[attr] = value
    return [envelope(1, "ProfileUpdated", parse_rfc3339("2026-11-01T09:00:00Z"), props)]


def shopper_events(row: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """SessionStarted plus one page view per counted page, one second apart.

    The first page of each kind carries that kind's whole duration and the first page of the
    session carries the sums of the rates and values, so that the folded sums equal the row's
    totals exactly (spreading them would add float rounding, not a feature difference).
    """
    start = datasets.session_start(
        datasets.SHOPPERS_MONTHS[row["Month"]], row["Weekend"].upper() == "TRUE"
    )
    events = [
        envelope(
            0,
            "SessionStarted",
            start,
            {
                "session_id": "s-1",
                "visitor_type": row["VisitorType"],
                "operating_system": int(row["OperatingSystems"]),
                "browser": int(row["Browser"]),
                "region": int(row["Region"]),
                "traffic_type": int(row["TrafficType"]),
            },
        )
    ]
    kinds = (
        ("administrative", "Administrative"),
        ("informational", "Informational"),
        ("product_related", "ProductRelated"),
    )
    pages = sum(int(row[column]) for _, column in kinds)
    totals = {
        "bounce_rate": float(row["BounceRates"]) * pages,
        "exit_rate": float(row["ExitRates"]) * pages,
        "page_value": float(row["PageValues"]) * pages,
    }
    n = 0
    for kind, column in kinds:
        for i in range(int(row[column])):
            n += 1
            props: dict[str, Any] = {"session_id": "s-1", "url": "/x"}
            props["duration_s"] = float(row[f"{column}_Duration"]) if i == 0 else 0.0
            props.update(totals if n == 1 else dict.fromkeys(totals, 0.0))
            if kind == "product_related" and n % 2:
                etype = "ProductViewed"  # the stream sees both spellings of a product page
                props["product_id"] = "p-1"
            else:
                etype = "PageViewed"
                props["page_type"] = kind
            events.append(envelope(n, etype, start + n * 1000, props))
    return events, start


def folded(events: list[dict[str, Any]]) -> dict[str, Any]:
    profile = new_profile("c-1")
    for event in events:
        fold(profile, event)
    return profile


def test_vectors_have_one_value_per_named_feature() -> None:
    assert len(set(CHURN_FEATURES)) == len(CHURN_FEATURES)
    assert len(set(INTENT_FEATURES)) == len(INTENT_FEATURES)
    assert len(churn_features(new_profile("x"))) == len(CHURN_FEATURES)
    assert len(intent_features(new_profile("x"), 0)) == len(INTENT_FEATURES)


def test_churn_features_are_identical_in_training_and_in_the_stream() -> None:
    rows = datasets.read_csv(DATA / "Telco-Customer-Churn.csv")
    assert len(rows) == 7043
    for row in rows:
        train = churn_features(datasets.telco_profile(row))
        stream = churn_features(folded(telco_events(row)))
        assert stream == train, row["customerID"]


INTENT_STRIDE = 4  # every 4th session (3,083 of them, ~100k events) keeps the unit suite fast


def test_intent_features_are_identical_in_training_and_in_the_stream() -> None:
    rows = datasets.read_csv(DATA / "online_shoppers_intention.csv")
    assert len(rows) == 12330
    for number, row in enumerate(rows):
        if number % INTENT_STRIDE and row["PageValues"] != "0":
            continue  # but every session with a page value (the interactions' branch) is checked
        train_profile, train_now = datasets.shoppers_profile(row)
        events, start = shopper_events(row)
        stream_profile = folded(events)
        # scored at the last event's time: the features use the session's start, not "now"
        stream = intent_features(stream_profile, events[-1]["ts"])
        assert stream == intent_features(train_profile, train_now), number
        assert start == train_now


def test_the_mapping_reproduces_the_data_set_columns() -> None:
    row = datasets.read_csv(DATA / "online_shoppers_intention.csv")[3]
    profile, _ = datasets.shoppers_profile(row)
    values = dict(zip(INTENT_FEATURES, intent_features(profile, 0), strict=True))
    pages = int(row["Administrative"]) + int(row["Informational"]) + int(row["ProductRelated"])
    assert values["log1p_product_related"] == math.log1p(int(row["ProductRelated"]))
    assert values["exit_rate"] == pytest.approx(float(row["ExitRates"]), rel=1e-12)
    assert pages > 0
    assert values[f"month={row['Month'][:3]}"] == 1.0
    assert values["weekend"] == (1.0 if row["Weekend"] == "TRUE" else 0.0)
    churn_row = datasets.read_csv(DATA / "Telco-Customer-Churn.csv")[0]
    churn = dict(
        zip(CHURN_FEATURES, churn_features(datasets.telco_profile(churn_row)), strict=True)
    )
    assert churn["contract=Month-to-month"] == 1.0
    assert churn["tenure"] == float(churn_row["tenure"])
    assert churn["monthly_charges"] == float(churn_row["MonthlyCharges"])


def test_month_and_weekend_follow_the_utc_calendar() -> None:
    saturday = parse_rfc3339("2026-11-21T23:59:59Z") // 86_400_000
    assert month_and_weekend(saturday) == (10, 1.0)
    assert month_and_weekend(saturday + 2) == (10, 0.0)  # Monday
    assert month_and_weekend(parse_rfc3339("2027-01-01T00:00:00Z") // 86_400_000)[0] == 0


def test_a_customer_who_never_browsed_gets_an_empty_session_at_now() -> None:
    values = intent_features(new_profile("x"), parse_rfc3339("2026-04-04T10:00:00Z"))
    named = dict(zip(INTENT_FEATURES, values, strict=True))
    assert named["month=Apr"] == 1.0 and named["weekend"] == 1.0
    assert named["visitor_type=New_Visitor"] == 1.0
    assert named["page_value>0"] == 0.0 and named["log1p_product_related"] == 0.0


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["Yes", "No", "Fiber optic", "Month-to-month", "12.5", " 7 "]),
    st.lists(st.integers(), max_size=2),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(list(datasets.TELCO_COLUMNS.values())), _junk))
def test_churn_features_never_fail_on_bad_attributes(attrs: dict[str, Any]) -> None:
    profile = new_profile("x")
    profile["attributes"] = attrs
    values = churn_features(profile)
    assert len(values) == len(CHURN_FEATURES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)


_page_events = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["SessionStarted", "PageViewed", "ProductViewed"]),
            "ts": st.integers(0, 10**7),
            "properties": st.fixed_dictionaries(
                {
                    "page_type": st.one_of(
                        st.sampled_from(["administrative", "product_related"]), _junk
                    ),
                    "duration_s": _junk,
                    "bounce_rate": _junk,
                    "exit_rate": _junk,
                    "page_value": _junk,
                    "traffic_type": _junk,
                    "visitor_type": _junk,
                }
            ),
        }
    ),
    max_size=20,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_page_events, st.integers(-(10**13), 10**13))
def test_intent_features_are_finite_for_any_browsing(
    events: list[dict[str, Any]], now: int
) -> None:
    profile = folded(events)
    values = intent_features(profile, now)
    assert len(values) == len(INTENT_FEATURES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
