"""Privacy on the real broker: `segue profile export` gives everything held about a customer;
`segue audit` what ran and what was decided about them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from app.cli.profile import fetch_record
from app.core.identity import email_key
from app.kafka_io import make_producer
from app.topics.specs import TopicNames
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


def _latest(deployment: Deployment, topic: str) -> dict[bytes, bytes | None]:
    return deployment.latest_by_key(topic)


def test_forget_erases_every_store_in_stream_order_and_compaction_leaves_no_trace(
    deployment: Deployment, start_worker: Any, real_kafka: Any
) -> None:
    names = TopicNames(deployment.settings)
    start = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    worker = start_worker("0", *WORKER_ARGS)
    visitor = {
        "event_id": "v-1",
        "type": "PageViewed",
        "anonymous_id": "v-dan",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start / 1000 - 60)),
        "properties": {},
    }
    produce_events(deployment, [visitor])
    worker.wait_for("the visitor's profile", lambda: fetch_record(deployment.settings, "v-dan"))
    dans = events_of("dan", start)
    dans[0]["anonymous_id"] = "v-dan"  # dan logs in on the visitor's device: a merge
    produce_events(deployment, [*dans, *events_of("eve", start)])

    def merged() -> bool:
        record = fetch_record(deployment.settings, "dan")
        return bool(record) and "v-dan" in (record.get("merged") or [])

    worker.wait_for("the visitor merged into dan", merged)
    assert _latest(deployment, names.timers_changelog).get(b"dan") is not None  # a wait runs
    forgot = segue(deployment.env, "forget", "email_hash:dan@example.com")
    assert forgot.returncode == 0, forgot.stderr
    request = forgot.stdout.strip()

    def receipts() -> list[dict[str, Any]]:
        done = segue(deployment.env, "audit", "--erasure", request, "--json")
        return [orjson.loads(x) for x in done.stdout.split()]

    worker.wait_for(
        "the profile's and both identity rows' receipts",
        lambda: sorted(r["store"] for r in receipts()) == ["identity", "identity", "profiles"],
    )
    assert all("dan" not in orjson.dumps(r).decode() for r in receipts())  # no personal data

    def erased() -> bool:
        profiles = _latest(deployment, names.profiles_changelog)
        rows = _latest(deployment, names.identity_changelog)
        timers = _latest(deployment, names.timers_changelog)
        return (
            profiles.get(b"dan", b"") is None
            and profiles.get(b"v-dan", b"") is None
            and timers.get(b"dan") is None
            and rows.get(f"email_hash:{email_key('dan@example.com')}".encode(), b"") is None
            and rows.get(b"anonymous_id:v-dan", b"") is None
        )

    worker.wait_for("tombstones for every key of dan", erased)
    assert fetch_record(deployment.settings, "eve") is not None  # the others are untouched
    assert segue(deployment.env, "profile", "export", "dan").returncode == 1

    # a later event starts a fresh profile
    produce_events(deployment, [{**events_of("dan", start + 60_000)[2], "event_id": "dan-new"}])
    worker.wait_for(
        "dan's fresh profile",
        lambda: (
            bool(r := fetch_record(deployment.settings, "dan"))
            and r["profile"]["counts"] == {"SignedUp": 1}
        ),
    )

    # compaction: what remains of the erased keys on the compacted topics is their tombstones,
    # then (after delete.retention.ms) nothing; the fresh profile of dan stays
    admin = AdminClient(deployment.settings.kafka_config())
    fast = {
        "segment.ms": "200",
        "min.cleanable.dirty.ratio": "0.0001",
        "delete.retention.ms": "100",
        "min.compaction.lag.ms": "0",
    }
    topics = [names.profiles_changelog, names.identity_changelog, names.timers_changelog]
    for topic in topics:
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in fast.items()
        ]
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
        for future in admin.incremental_alter_configs([resource]).values():
            future.result()
    gone = [b"v-dan", b"anonymous_id:v-dan", f"email_hash:{email_key('dan@example.com')}".encode()]

    producer = make_producer(deployment.settings)

    def compacted() -> bool:
        # the cleaner leaves a partition's active segment alone: a record after segment.ms
        # rolls it (a tombstone of a key nobody has: nothing for a recovery to restore)
        for topic in topics:
            for partition in range(deployment.settings.partitions):
                producer.produce(topic, key=b"roll", value=None, partition=partition)
        producer.flush(10)
        keys = [m.key() for t in topics for m in deployment.read(t)]
        return not any(k in gone for k in keys)

    worker.wait_for("compaction to remove every erased key", compacted, timeout_s=180)
