"""The simulator's SDK identifiers (``context.identifiers``) and what identity makes of them."""

from __future__ import annotations

import hashlib
from collections import defaultdict

from app.core.envelope import validate_event
from app.core.identity import IdentityConfig
from app.core.identity_replay import replay_resolved
from app.core.journeys import Engine
from tests.unit.sim_helpers import long_run


def test_web_events_carry_a_device_and_identify_the_email_hash() -> None:
    devices_of_anonymous: dict[str, set[str]] = defaultdict(set)
    owners_of_device: dict[str, set[str]] = defaultdict(set)
    for event in long_run():
        ids = event["context"].get("identifiers")
        if event["context"]["channel"] != "web":
            assert ids is None  # back-office events (CRM, payments, ...) know no device
            continue
        assert ids is not None and ids["device_id"].startswith("dev-7-")
        if event["anonymous_id"]:
            devices_of_anonymous[event["anonymous_id"]].add(ids["device_id"])
        if event["customer_id"]:
            owners_of_device[ids["device_id"]].add(event["customer_id"])
        if event["type"] == "Identify":
            email = event["properties"]["email"]
            assert ids["email_hash"] == hashlib.sha256(email.lower().encode()).hexdigest()
        else:
            assert "email_hash" not in ids
    assert devices_of_anonymous
    assert all(len(d) == 1 for d in devices_of_anonymous.values())  # one browser, one device
    assert all(len(c) == 1 for c in owners_of_device.values())  # devices are not shared


def test_identity_resolution_of_a_simulated_day_links_without_conflicts() -> None:
    events = [validate_event(e) for e in long_run()]
    _, identity, states = replay_resolved(events, Engine([]), IdentityConfig(), None, None, True)
    assert identity.conflicts == []
    assert identity.merges  # logins on a device that browsed anonymously first
    for event in events:
        if event["type"] == "Identify" and event["anonymous_id"]:
            anonymous = event["anonymous_id"]
            assert identity.rows[f"anonymous_id:{anonymous}"]["c"] == event["customer_id"]
            assert anonymous not in states  # merged away (or never had a profile)
    assert sum(sum(p["counts"].values()) for p, _ in states.values()) == len(events)
