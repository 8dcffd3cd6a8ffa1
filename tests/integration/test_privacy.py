"""Privacy on the real broker: `segue profile export` gives everything held about a customer."""

from __future__ import annotations

import time
from typing import Any

import orjson

from app.cli.profile import fetch_record
from app.core.identity import email_key
from tests.integration.live_support import WORKER_ARGS, produce_events
from tests.integration.support import Deployment
from tests.integration.test_cli import segue

DAY_MS = 86_400_000


def events_of(customer: str, start_ms: int) -> list[dict[str, Any]]:
    def ev(n: int, etype: str, **props: Any) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((start_ms + n * 1000) / 1000))
        return {
            "event_id": f"{customer}-{n}",
            "type": etype,
            "customer_id": customer,
            "timestamp": stamp + "Z",
            "properties": props,
        }

    address = f"{customer}@example.com"
    identify = ev(0, "Identify", email=address, first_name=customer.title())
    identify["context"] = {"identifiers": {"email_hash": address}}  # hashed by ingest
    return [
        identify,
        ev(1, "ConsentUpdated", channel="sms", granted=True),
        ev(2, "SignedUp"),
        ev(3, "Unsubscribed", channel="email"),
    ]


def test_profile_export_gives_every_store_of_the_customer(
    deployment: Deployment, start_worker: Any
) -> None:
    start = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, events_of("ann", start) + events_of("bob", start))

    def stored() -> bool:
        record = fetch_record(deployment.settings, "ann")
        return bool(record) and record["profile"]["counts"].get("Unsubscribed") == 1

    worker.wait_for("ann's profile", stored)
    done = segue(deployment.env, "profile", "export", f"email_hash:{'ann@example.com'}")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["customer_id"] == "ann"
    assert f"email_hash:{email_key('ann@example.com')}" in doc["linked_identities"]
    assert [(c["type"], c["channel"], c["granted"]) for c in doc["consent_trail"]] == [
        ("ConsentUpdated", "sms", True),
        ("Unsubscribed", "email", False),
    ]
    assert doc["consent_trail"][0]["event_id"] == "ann-1"
    assert doc["profile"]["attributes"]["first_name"] == "Ann"
    assert not any("@" in i for i in doc["linked_identities"])  # the graph keeps hashes only
    assert doc["journey_state"]["history"]["welcome"][0] == 1  # entered once
    kinds = {o["kind"] for o in doc["outcomes"]}
    assert {"entered", "sent"} <= kinds and all(o["customer_id"] == "ann" for o in doc["outcomes"])
    assert [a["template"] for a in doc["actions"]["email"]] == ["welcome"]
    assert all(a["customer_id"] == "ann" for a in doc["actions"]["email"])
    assert segue(deployment.env, "profile", "export", "nobody").returncode == 1
