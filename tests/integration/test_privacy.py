"""Privacy on the real broker: `segue profile export` gives everything held about a customer;
`segue audit` what ran and what was decided about them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson

from app.cli.profile import fetch_record
from app.core.identity import email_key
from tests.integration.live_support import JOURNEYS, POLICIES, WORKER_ARGS, produce_events
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


def test_audit_shows_what_ran_and_what_was_decided_about_a_customer(
    deployment: Deployment, start_worker: Any
) -> None:
    start = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, events_of("cat", start))
    worker.wait_for(
        "cat's profile",
        lambda: (
            bool(record := fetch_record(deployment.settings, "cat"))
            and record["profile"]["counts"].get("Unsubscribed") == 1
        ),
    )
    ran = segue(deployment.env, "audit", "--journey", "welcome")
    assert ran.returncode == 0, ran.stderr
    assert "worker 0 on" in ran.stdout and "serves welcome v1" in ran.stdout
    (record,) = [orjson.loads(x) for x in segue(deployment.env, "audit", "--json").stdout.split()]
    files = {Path(f["file"]).name: f["sha256"] for f in record["files"]}
    assert (
        files["welcome.yaml"]
        == hashlib.sha256((JOURNEYS / "welcome.yaml").read_bytes()).hexdigest()
    )
    assert record["policies"]["sha256"] == hashlib.sha256(POLICIES.read_bytes()).hexdigest()
    assert segue(deployment.env, "audit", "--journey", "nope").returncode == 1

    trail = segue(deployment.env, "audit", "--customer", "cat")
    assert trail.returncode == 0, trail.stderr
    lines = trail.stdout.splitlines()
    assert any("consent granted (sms) by ConsentUpdated cat-1" in x for x in lines)
    assert any("consent withdrawn (email, promotional) by Unsubscribed cat-3" in x for x in lines)
    assert any("welcome v1 entry 1: entered on SignedUp cat-2" in x for x in lines)
    assert any("welcome v1 entry 1: sent email welcome" in x for x in lines)
    times = [line.split()[0] for line in lines]
    assert times == sorted(times)  # in time order (whole seconds here: text order is time order)
