"""The documented mapping from the training data sets' rows to stream-shaped profiles.

Training never computes features from CSV columns directly: it turns each row into the profile
(and session) the stream would hold for such a customer, then calls the same
``app.core.features`` functions as the scorer. See docs/models.md, "Feature mapping".
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core.profile import new_profile
from app.core.session import new_session
from app.core.timeutil import from_datetime

#: Telco CSV column -> profile attribute (the values are kept as the data set spells them)
TELCO_COLUMNS = {
    "gender": "gender",
    "SeniorCitizen": "senior_citizen",
    "Partner": "partner",
    "Dependents": "dependents",
    "tenure": "tenure",
    "PhoneService": "phone_service",
    "MultipleLines": "multiple_lines",
    "InternetService": "internet_service",
    "OnlineSecurity": "online_security",
    "OnlineBackup": "online_backup",
    "DeviceProtection": "device_protection",
    "TechSupport": "tech_support",
    "StreamingTV": "streaming_tv",
    "StreamingMovies": "streaming_movies",
    "Contract": "contract",
    "PaperlessBilling": "paperless_billing",
    "PaymentMethod": "payment_method",
    "MonthlyCharges": "monthly_charges",
    "TotalCharges": "total_charges",
}
_TELCO_NUMBERS = {"SeniorCitizen": int, "tenure": int, "MonthlyCharges": float}

#: the UCI file's month spellings -> month number (the data set has no Jan and no Apr rows)
SHOPPERS_MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "June": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}
#: the data set does not give the year; any year works as only month and weekend are used
SHOPPERS_YEAR = 2026


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def telco_label(row: dict[str, str]) -> int:
    return 1 if row["Churn"] == "Yes" else 0


def telco_profile(row: dict[str, str]) -> dict[str, Any]:
    """A profile whose attributes are what ``ProfileUpdated`` events would carry for this row.

    Numbers become numbers; the blank ``TotalCharges`` of 11 brand-new customers (tenure 0)
    becomes absent, which the features read as 0.
    """
    profile = new_profile(row.get("customerID") or "telco")
    attrs = profile["attributes"]
    for column, attr in TELCO_COLUMNS.items():
        raw = row[column].strip()
        if column in _TELCO_NUMBERS:
            attrs[attr] = _TELCO_NUMBERS[column](raw)
        elif column == "TotalCharges":
            if raw:
                attrs[attr] = float(raw)
        else:
            attrs[attr] = raw
    return profile


def shoppers_label(row: dict[str, str]) -> int:
    return 1 if row["Revenue"].upper() == "TRUE" else 0


def session_start(month: int, weekend: bool) -> int:
    """Noon UTC on the first Saturday (weekend) or first Wednesday (weekday) of the month."""
    first = datetime(SHOPPERS_YEAR, month, 1, 12, tzinfo=UTC)
    target = 5 if weekend else 2
    return from_datetime(first + timedelta(days=(target - first.weekday()) % 7))


def shoppers_profile(row: dict[str, str]) -> tuple[dict[str, Any], int]:
    """(profile with the session this row describes, the scoring time: the session's start).

    The data set's averages (bounce rate, exit rate, page value over the session's pages) become
    sums over ``pages`` = the three page counts added up, which is what folding page views yields.
    Six rows have no pages but non-zero rates; a session without pages has rates 0.
    ``SpecialDay`` is not used (the stream has no calendar of special days).
    """
    counts = [int(row[c]) for c in ("Administrative", "Informational", "ProductRelated")]
    durations = [
        float(row[c])
        for c in ("Administrative_Duration", "Informational_Duration", "ProductRelated_Duration")
    ]
    start = session_start(SHOPPERS_MONTHS[row["Month"]], row["Weekend"].upper() == "TRUE")
    session = new_session(
        start,
        None,
        row["VisitorType"],
        int(row["OperatingSystems"]),
        int(row["Browser"]),
        int(row["Region"]),
        int(row["TrafficType"]),
    )
    pages = sum(counts)
    session["pages"] = pages
    session["n"] = counts
    session["dur"] = durations
    session["bounce"] = float(row["BounceRates"]) * pages
    session["exit"] = float(row["ExitRates"]) * pages
    session["value"] = float(row["PageValues"]) * pages
    profile = new_profile("shopper")
    profile["session"] = session
    return profile, start
