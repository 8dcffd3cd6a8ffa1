"""Prometheus metrics of the worker (served on SEGUE_METRICS_PORT)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

EVENTS_IN = Counter("segue_events_in_total", "Records read from the input topics", ["topic"])
EVENTS_REJECTED = Counter(
    "segue_events_rejected_total", "Input records sent to the dead-letter topic", ["kind"]
)
INTERNAL_ERRORS = Counter(
    "segue_internal_errors_total",
    "Records an agent could not handle because of a bug of ours (each sent to the DLQ)",
    ["agent"],
)
EVENTS_ACCEPTED = Counter(
    "segue_events_accepted_total", "Valid events forwarded, keyed by customer"
)
PROFILE_UPDATES = Counter("segue_profile_updates_total", "Events folded into profiles")
REDELIVERED_SKIPPED = Counter(
    "segue_redelivered_skipped_total", "Records seen again after a restart and not re-applied"
)
EVENTS_DUPLICATE = Counter(
    "segue_events_duplicate_total",
    "Events dropped as copies of one the customer already had (same event_id, in the window)",
)
PROFILES_CREATED = Counter(
    "segue_profiles_created_total", "Profiles created (first event of a key)"
)


def reason_kind(reason: str) -> str:
    """A low-cardinality label for a DLQ reason ('bad JSON: ...' -> 'bad JSON')."""
    return reason.split(":", 1)[0][:40]


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered: prometheus-client's ``labels`` costs a few
    microseconds (it checks and joins the values under a lock), too much once per event. The
    label values of the hot paths are few (topics, partitions, channels, journeys)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


ERASURES = Counter(
    "segue_erasures_total", "Erasure requests carried out, per store (docs/privacy.md)", ["store"]
)
