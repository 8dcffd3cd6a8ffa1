"""Sink workers on the real broker, delivering to real local SMTP and HTTP servers.

Here the tests put actions straight on the ``actions.<channel>`` topics (crashes, failures,
rebalances), and the stream worker closes the loop (profiles built from events give the
templates their snapshot; receipts are folded back). The path through live journeys is
test_sinks_e2e.py."""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import orjson

from app.core.delivery.signing import sign_headers
from app.core.dlq import dlq_reason
from app.sinks.config import SinkSettings
from app.topics.specs import TopicNames
from tests.integration.sink_support import (
    SinkProcess,
    action_records,
    make_action,
    provider_env,
    receipts,
)
from tests.integration.support import Deployment, WorkerProcess, envelope_bytes
from tests.sink_servers import callback_endpoint, http_server, post_callback, smtp_server

SECRET = "webhook-secret"


def identify(customer: str) -> dict[str, Any]:
    return {
        "event_id": f"id-{customer}",
        "type": "Identify",
        "customer_id": customer,
        "timestamp": "2026-11-23T08:00:00Z",
        "properties": {"email": f"{customer}@example.com", "name": f"Name {customer}"},
    }


def stored_profiles(deployment: Deployment) -> dict[str, dict[str, Any]]:
    names = TopicNames(deployment.settings)
    latest = deployment.latest_state(names.profiles_changelog)
    return {k: v["profile"] for k, v in latest.items() if "profile" in v}


def wait_until(proc: WorkerProcess, what: str, check: Any, timeout_s: float = 120.0) -> None:
    proc.wait_for(what, check, timeout_s)


def start_sink(
    deployment: Deployment,
    channel: str,
    started: list[SinkProcess],
    worker_id: str = "0",
    **env: Any,
) -> SinkProcess:
    extra = provider_env(channel, **env.pop("provider"))
    extra.update({f"SEGUE_SINK_{k.upper()}": str(v) for k, v in env.items()})
    sink = SinkProcess(deployment, channel, extra, worker_id).start()
    started.append(sink)
    return sink


def test_actions_reach_real_providers_and_receipts_feed_the_profiles(
    deployment: Deployment, start_worker: Any
) -> None:
    names = TopicNames(deployment.settings)
    customers = [f"c-{i}" for i in range(1, 9)]
    worker = start_worker()
    deployment.produce([envelope_bytes(identify(c)) for c in customers], names.events)
    wait_until(
        worker,
        "profiles with emails",
        lambda: (
            all(p["attributes"].get("email") for p in stored_profiles(deployment).values())
            and len(stored_profiles(deployment)) == len(customers)
        ),
    )
    sinks: list[SinkProcess] = []
    try:
        with smtp_server() as (smtp, smtp_port), http_server(SECRET.encode()) as (hook, url):
            # these actions come from "another producer": no recipient snapshot on them, so
            # the email sink follows the profiles changelog for the addresses
            email = start_sink(
                deployment,
                "email",
                sinks,
                provider={"kind": "smtp", "port": smtp_port},
                profiles="true",
            )
            webhook = start_sink(
                deployment,
                "webhook",
                sinks,
                provider={"kind": "http", "url": f"{url}/hooks", "secret": SECRET},
            )
            emails = [make_action("email", n, customers[n % 8], "cart_offer") for n in range(24)]
            hooks = [
                make_action("webhook", n, customers[n % 8], "seasonal_offer") for n in range(24)
            ]
            bad_email = [
                make_action("email", 100, "c-1", "no_such_template"),
                {**make_action("email", 101, "c-2", "cart_offer"), "journey_version": "x"},
            ]
            bad_hook = [make_action("sms", 102, "c-3", "cart_reminder")]  # on the wrong topic
            deployment.produce(action_records(emails + bad_email), names.actions["email"])
            deployment.produce(action_records(hooks + bad_hook), names.actions["webhook"])

            email.wait_metric("segue_sink_delivered_total", len(emails))
            email.wait_metric("segue_sink_failed_total", len(bad_email))
            webhook.wait_metric("segue_sink_delivered_total", len(hooks))
            webhook.wait_metric("segue_sink_failed_total", len(bad_hook))

            # Each action exactly once at the real servers, with the profile's address.
            assert smtp.action_ids() == {a["action_id"]: 1 for a in emails}
            by_id = {str(m["X-Segue-Action-Id"]): m for m in smtp.messages}
            for a in emails:
                assert by_id[a["action_id"]]["To"] == f"{a['customer_id']}@example.com"
                assert (
                    f"Hi Name {a['customer_id']},"
                    in by_id[a["action_id"]].get_payload(decode=True).decode()
                )
            assert hook.rejected_signatures == 0
            assert hook.idempotency_keys() == {a["action_id"]: 1 for a in hooks}
            assert {b["action_id"] for b in hook.bodies()} == {a["action_id"] for a in hooks}

            # Callbacks: a signed 'opened' becomes a receipt, once however often it is
            # replayed; an unsigned one is refused.
            sink_settings = SinkSettings(callback_secret="cb-secret")
            with callback_endpoint(deployment.settings, sink_settings) as port:
                opened = {
                    "status": "opened",
                    "channel": "email",
                    **{k: emails[0][k] for k in ("action_id", "customer_id", "journey")},
                }
                raw = orjson.dumps(opened)
                signed = sign_headers(b"cb-secret", int(time.time()), raw)
                assert post_raw(port, raw, signed) == 202
                assert [post_raw(port, raw, signed) for _ in range(3)] == [200, 200, 200]
                assert post(port, opened, b"wrong") == 401
                assert post(port, {**opened, "status": "eaten"}, b"cb-secret") == 400

        # Receipts on events.receipts: one MessageSent per delivered action, MessageFailed
        # for the bad ones (with their reasons); the bad ones also in the DLQ.
        got = receipts(deployment, names.receipts)
        kinds = Counter(r["type"] for r in got)
        assert kinds == {"MessageSent": 48, "MessageFailed": 3, "MessageOpened": 1}
        failed = {
            r["properties"]["action_id"]: r["properties"]["reason"]
            for r in got
            if r["type"] == "MessageFailed"
        }
        assert "missing template" in failed[bad_email[0]["action_id"]]
        assert "schema" in failed[bad_email[1]["action_id"]]
        assert "channel 'sms'" in failed[bad_hook[0]["action_id"]]
        dead = [dlq_reason(m.headers()) for m in deployment.read(names.dlq)]
        assert sorted(d["channel"] for d in dead) == ["email", "email", "webhook"]

        # The stream worker folds every receipt into the profiles.
        expected: dict[str, Counter[str]] = {}
        for r in got:
            expected.setdefault(r["customer_id"], Counter())[r["type"]] += 1
        kinds_of = ("MessageSent", "MessageFailed", "MessageOpened")

        def counted() -> dict[str, Counter[str]]:
            return {
                c: Counter({k: p["counts"][k] for k in kinds_of if k in p["counts"]})
                for c, p in stored_profiles(deployment).items()
                if any(k in p["counts"] for k in kinds_of)
            }

        wait_until(worker, "receipts counted in profiles", lambda: counted() == expected)
        assert expected[emails[0]["customer_id"]]["MessageOpened"] == 1
        assert expected["c-1"]["MessageFailed"] == 1  # the missing template
    finally:
        for sink in sinks:
            sink.stop()


def post(port: int, body: dict[str, Any], secret: bytes) -> int:
    raw = orjson.dumps(body)
    return post_raw(port, raw, sign_headers(secret, int(time.time()), raw))


def post_raw(port: int, raw: bytes, headers: dict[str, str]) -> int:
    return post_callback(port, raw, headers, 30)[0]


def test_sigkill_between_send_and_commit_delivers_each_action_exactly_once(
    deployment: Deployment,
) -> None:
    names = TopicNames(deployment.settings)
    sinks: list[SinkProcess] = []
    # Nothing is committed before the crash (commit every 1000 actions or 10 min), so every
    # action sent before it is redelivered after the restart.
    hold = {"commit_every": 1000, "commit_interval_ms": 600_000, "profiles": "false"}
    try:
        with smtp_server() as (smtp, smtp_port), http_server(SECRET.encode()) as (hook, url):
            emails = [
                make_action(
                    "email",
                    n,
                    f"c-{n % 7}",
                    "cart_offer",
                    profile={"attributes": {"email": f"x{n}@example.com"}},
                )
                for n in range(40)
            ]
            hooks = [make_action("webhook", n, f"c-{n % 7}", "seasonal_offer") for n in range(40)]
            deployment.produce(action_records(emails), names.actions["email"])
            deployment.produce(action_records(hooks), names.actions["webhook"])
            smtp_env = {"kind": "smtp", "port": smtp_port}
            http_env = {"kind": "http", "url": url, "secret": SECRET}
            email = start_sink(
                deployment, "email", sinks, provider=smtp_env, crash_after=17, **hold
            )
            webhook = start_sink(
                deployment, "webhook", sinks, provider=http_env, crash_after=23, **hold
            )
            assert email.wait_exit() == -signal.SIGKILL
            assert webhook.wait_exit() == -signal.SIGKILL
            assert sum(smtp.action_ids().values()) == 17  # sent, recorded, not committed
            assert sum(hook.idempotency_keys().values()) == 23

            email = start_sink(deployment, "email", sinks, provider=smtp_env, **hold)
            webhook = start_sink(deployment, "webhook", sinks, provider=http_env, **hold)
            email.wait_metric("segue_sink_delivered_total", 40 - 17)
            webhook.wait_metric("segue_sink_delivered_total", 40 - 23)
            email.wait_metric("segue_sink_deduplicated_total", 17)
            webhook.wait_metric("segue_sink_deduplicated_total", 23)

            assert smtp.action_ids() == {a["action_id"]: 1 for a in emails}
            assert hook.idempotency_keys() == {a["action_id"]: 1 for a in hooks}
            assert email.metric("segue_sink_resent_after_crash_total") == 0
            for sink in sinks:
                sink.stop()
        sent = [r for r in receipts(deployment, names.receipts) if r["type"] == "MessageSent"]
        assert Counter(r["event_id"] for r in sent) == {
            f"{a['action_id']}:MessageSent": 1 for a in emails + hooks
        }
    finally:
        for sink in sinks:
            sink.stop()


def test_a_crash_mid_send_resends_only_that_action_with_the_same_idempotency_key(
    deployment: Deployment,
) -> None:
    """The one window no local record can close: the provider accepted the request and the
    sink died before writing that down. That action (and only it) is sent again, with the same
    Idempotency-Key, so a provider that honours the key keeps one copy."""
    names = TopicNames(deployment.settings)
    sinks: list[SinkProcess] = []
    hold = {"commit_every": 1000, "commit_interval_ms": 600_000, "profiles": "false"}
    try:
        with http_server(SECRET.encode()) as (hook, url):
            hooks = [make_action("webhook", n, f"c-{n % 5}", "seasonal_offer") for n in range(20)]
            deployment.produce(action_records(hooks), names.actions["webhook"])
            http_env = {"kind": "http", "url": url, "secret": SECRET}
            first = start_sink(
                deployment,
                "webhook",
                sinks,
                provider=http_env,
                crash_after=8,
                crash_at="sent",
                **hold,
            )
            assert first.wait_exit() == -signal.SIGKILL
            cut_off = hook.bodies()[-1]["action_id"]  # accepted, never recorded
            second = start_sink(deployment, "webhook", sinks, provider=http_env, **hold)
            second.wait_metric("segue_sink_delivered_total", 20 - 7)
            second.wait_metric("segue_sink_deduplicated_total", 7)
            assert second.metric("segue_sink_resent_after_crash_total") == 1
            keys = hook.idempotency_keys()
            assert keys == {a["action_id"]: 2 if a["action_id"] == cut_off else 1 for a in hooks}
    finally:
        for sink in sinks:
            sink.stop()


def test_a_dead_provider_ends_in_retries_then_the_dlq_while_email_flows(
    deployment: Deployment,
) -> None:
    names = TopicNames(deployment.settings)
    sinks: list[SinkProcess] = []
    try:
        with smtp_server() as (smtp, smtp_port), http_server(SECRET.encode()) as (dead, url):
            dead.respond = lambda _body: 503
            sms = start_sink(
                deployment,
                "sms",
                sinks,
                provider={
                    "kind": "http",
                    "url": url,
                    "secret": SECRET,
                    "max_attempts": 3,
                    "backoff_base_ms": 20,
                    "breaker_threshold": 4,
                    "breaker_cooldown_ms": 300,
                },
                profiles="false",
            )
            email = start_sink(
                deployment,
                "email",
                sinks,
                provider={"kind": "smtp", "port": smtp_port},
                profiles="false",
            )
            texts = [make_action("sms", n, f"c-{n}", "cart_reminder") for n in range(5)]
            emails = [
                make_action(
                    "email",
                    n,
                    f"c-{n}",
                    "cart_offer",
                    profile={"attributes": {"email": f"e{n}@example.com"}},
                )
                for n in range(30)
            ]
            deployment.produce(action_records(texts), names.actions["sms"])
            deployment.produce(action_records(emails), names.actions["email"])

            email.wait_metric("segue_sink_delivered_total", 30)
            sms.wait_metric("segue_sink_failed_total", 5)
            assert smtp.action_ids() == {a["action_id"]: 1 for a in emails}
            assert dead.requests == 5 * 3  # every attempt reached the (dead) provider
            assert sms.metric("segue_sink_retried_total") == 5 * 2
            assert sms.metric("segue_sink_breaker_opened_total") >= 1
            assert sms.metric("segue_sink_delivered_total") == 0
            for sink in sinks:
                sink.stop()
        dead_letters = [dlq_reason(m.headers()) for m in deployment.read(names.dlq)]
        assert len(dead_letters) == 5
        assert all(
            d["reason"].startswith("gave up after 3 attempts: HTTP 503") for d in dead_letters
        )
        assert all(d["channel"] == "sms" and d["attempts"] == "3" for d in dead_letters)
        failed = [r for r in receipts(deployment, names.receipts) if r["type"] == "MessageFailed"]
        assert {r["properties"]["action_id"] for r in failed} == {a["action_id"] for a in texts}
    finally:
        for sink in sinks:
            sink.stop()


def test_two_workers_of_one_channel_share_its_partitions_and_deliver_each_action_once(
    deployment: Deployment,
) -> None:
    """A second worker joins mid-stream: the partitions are split (committed on revoke), and
    every action reaches the server exactly once."""
    names = TopicNames(deployment.settings)
    sinks: list[SinkProcess] = []
    try:
        with http_server(SECRET.encode()) as (hook, url):
            hooks = [make_action("webhook", n, f"c-{n}", "seasonal_offer") for n in range(300)]
            http_env = {"kind": "http", "url": url, "secret": SECRET}
            first = start_sink(
                deployment, "webhook", sinks, "0", provider=http_env, profiles="false"
            )
            deployment.produce(action_records(hooks[:150]), names.actions["webhook"])
            first.wait_metric("segue_sink_delivered_total", 20)
            second = start_sink(
                deployment, "webhook", sinks, "1", provider=http_env, profiles="false"
            )
            second.wait_metric("segue_sink_assigned_partitions", 1)
            first.wait_for("the split", lambda: first.metric("segue_sink_assigned_partitions") > 0)
            # 150 more, over every partition: both workers now have some to deliver
            deployment.produce(action_records(hooks[150:]), names.actions["webhook"])
            first.wait_for("all delivered", lambda: len(hook.bodies()) >= len(hooks))
            assert second.metric("segue_sink_delivered_total") > 0
            assert hook.idempotency_keys() == {a["action_id"]: 1 for a in hooks}
    finally:
        for sink in sinks:
            sink.stop()


def test_a_worker_taking_over_a_dead_workers_partitions_skips_what_it_delivered(
    deployment: Deployment,
) -> None:
    """Worker 0 dies (SIGKILL) with nothing committed; worker 1, on another 'host' (its own
    empty dedupe store), takes its partitions. It finds worker 0's receipts and skips those
    actions: only the last few, whose receipts were still in flight at the kill, can go twice."""
    names = TopicNames(deployment.settings)
    sinks: list[SinkProcess] = []
    hold = {"commit_every": 1000, "commit_interval_ms": 600_000, "profiles": "false"}
    try:
        with http_server(SECRET.encode()) as (hook, url):
            hooks = [make_action("webhook", n, f"c-{n}", "seasonal_offer") for n in range(80)]
            deployment.produce(action_records(hooks), names.actions["webhook"])
            http_env = {"kind": "http", "url": url, "secret": SECRET}
            dead = start_sink(
                deployment, "webhook", sinks, "0", provider=http_env, crash_after=30, **hold
            )
            assert dead.wait_exit() == -signal.SIGKILL
            before = [b["action_id"] for b in hook.bodies()]
            assert len(before) == 30
            heir = start_sink(deployment, "webhook", sinks, "1", provider=http_env, **hold)
            heir.wait_for(
                "all delivered",
                lambda: set(hook.idempotency_keys()) >= {a["action_id"] for a in hooks},
            )
            heir.wait_metric("segue_sink_delivered_total", 50)
            keys = hook.idempotency_keys()
            twice = {k for k, n in keys.items() if n > 1}
            assert all(n <= 2 for n in keys.values())
            assert twice <= set(before[-5:]), (twice, before[-5:])
            assert heir.metric("segue_sink_deduplicated_total") >= 25
    finally:
        for sink in sinks:
            sink.stop()
