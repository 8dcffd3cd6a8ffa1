"""Issue 17 on the real broker and a real registry (Apicurio, tests/integration/conftest.py):
Avro events in (beside JSON ones, as an estate migrating), Avro actions out, Avro receipts back
into the journeys, a W3C traceparent from each input event on its actions and their receipts,
properties that break their type's schema dead-lettered as they were with the path, and a schema
change that would break a consumer refused by `segue topics apply`."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from app.core.dlq import dlq_reason
from app.core.timeutil import format_ms
from app.formats.wire import framed, unframe
from app.registry import RegistryProcess
from app.topics.specs import TopicNames
from tests.integration.sink_support import sinks_to_real_providers
from tests.integration.support import ROOT, Deployment, WorkerProcess
from tests.integration.test_cli import segue

HERE = Path(__file__).parent
JOURNEYS = HERE / "journeys_e2e"
POLICIES = HERE / "policies_e2e.yaml"
SECRET = "formats-secret"
EVENT_AVSC = (ROOT / "topics" / "schemas" / "event.avsc").read_text()
CHANNELS = ("email", "sms", "push", "webhook", "in_app", "agent")


def trace_of(customer: int) -> str:
    return f"00-{customer:032x}-{customer + 100:016x}-01"


def scripted(start_ms: int, customers: int) -> list[dict[str, Any]]:
    events = []
    for i in range(1, customers + 1):
        c = f"c-{i}"
        for kind, props in (
            ("Identify", {"email": f"{c}@example.com", "name": f"Name {c}"}),
            (
                "PaymentFailed",
                {"order_id": f"o-{i}", "amount": 20.0 + i, "reason": "card_declined"},
            ),
        ):
            events.append(
                {
                    "event_id": f"fmt-{len(events):03d}",
                    "type": kind,
                    "customer_id": c,
                    "timestamp": format_ms(start_ms + len(events) * 10),
                    "properties": props,
                    "context": {"channel": "web"},
                }
            )
    return events


def as_avro_datum(event: dict[str, Any]) -> dict[str, Any]:
    """What an estate's producer writes with topics/schemas/event.avsc."""
    return {
        **event,
        "anonymous_id": None,
        "properties": orjson.dumps(event["properties"]).decode(),
        "context": orjson.dumps(event["context"]).decode(),
    }


def test_avro_in_and_out_with_traces_end_to_end(
    deployment: Deployment, schema_registry: RegistryProcess
) -> None:
    deployment.env.update(
        SEGUE_SCHEMA_REGISTRY_URL=schema_registry.url,
        SEGUE_TOPIC_FORMATS="actions.*=avro,events.receipts=avro",
    )
    names = TopicNames(deployment.settings)
    prefix = deployment.prefix
    applied = segue(deployment.env, "topics", "apply")
    assert applied.returncode == 0, applied.stderr
    client = SchemaRegistryClient({"url": schema_registry.url})
    for subject in [f"{prefix}actions.{c}-value" for c in CHANNELS] + [
        f"{prefix}events.receipts-value"
    ]:
        assert f"registered schema {subject}" in applied.stdout
        assert client.get_compatibility(subject) == "BACKWARD"  # set on the subjects it made
    action_id = client.get_latest_version(f"{prefix}actions.email-value").schema_id

    worker = WorkerProcess(
        deployment, "0", ("--journeys", str(JOURNEYS), "--policies", str(POLICIES))
    ).start()
    try:
        customers = 4
        events = scripted(int(time.time() * 1000) - 60_000, customers)
        # customers 1-2 in Avro through confluent-kafka's own serializer (the estate's
        # producer, registering events-value itself), 3-4 in JSON: one topic, both formats
        serializer = AvroSerializer(client, EVENT_AVSC)
        context = SerializationContext(names.events, MessageField.VALUE)
        producer = Producer({"bootstrap.servers": deployment.settings.bootstrap_servers})
        for event in events:
            number = int(event["customer_id"][2:])
            value = (
                serializer(as_avro_datum(event), context) if number <= 2 else orjson.dumps(event)
            )
            headers = [("traceparent", trace_of(number).encode())]
            producer.produce(names.events, value, event["customer_id"].encode(), headers=headers)
        # bad input: a numeric field that is not a number, and a frame of an unknown schema id
        bad_headers = [("traceparent", trace_of(99).encode()), ("x-origin", b"shop")]
        bad_order = orjson.dumps(
            {
                **events[1],
                "event_id": "bad-1",
                "type": "OrderPlaced",
                "properties": {"order_id": "o-9", "total": "12.50"},
            }
        )
        producer.produce(names.events, bad_order, b"c-9", headers=bad_headers)
        producer.produce(names.events, b"\x00\x00\x0f\x42\x3f\x02", b"c-9")
        producer.flush(30)

        with sinks_to_real_providers(deployment, SECRET) as (smtp, http, sinks):
            # The agent's handoff waits for the email's MessageSent: it comes only if the
            # worker read the sinks' Avro receipts. The webhook waits for the agent's.
            def walked() -> bool:
                with http.lock:
                    paths = Counter(a["path"] for a in http.accepted)
                return len(smtp.action_ids()) == customers and paths["/hooks"] == customers

            try:
                worker.wait_for("every customer's walk through email, agent, webhook", walked, 120)
            except AssertionError:
                raise AssertionError("\n".join(s.log()[-2000:] for s in sinks)) from None

        # Actions: Avro in the wire format under the registered id, readable by a consumer
        # that knows only the registry (confluent-kafka's deserializer)
        deserializer = AvroDeserializer(client)
        actions = {}
        for channel in ("email", "agent", "webhook"):
            for message in deployment.read(names.actions[channel]):
                raw = message.value()
                assert framed(raw)
                headers = dict(message.headers())
                assert headers["content-type"] == b"application/avro"
                schema_id = unframe(raw)[0]
                assert headers["segue-schema-id"] == str(schema_id).encode()
                if channel == "email":
                    assert schema_id == action_id
                ctx = SerializationContext(message.topic(), MessageField.VALUE)
                action = deserializer(raw, ctx)
                actions[action["action_id"]] = (action, headers)
        assert Counter(a["channel"] for a, _h in actions.values()) == {
            "email": customers,
            "agent": customers,
            "webhook": customers,
        }
        for action, headers in actions.values():
            number = int(action["customer_id"][2:])
            # the customer's trace all along: the email from the input event, the agent's
            # ticket from the email's receipt, the webhook from the ticket's receipt
            assert headers["traceparent"] == trace_of(number).encode()
            source = names.events if action["channel"] == "email" else names.receipts
            assert headers["segue-source-topic"] == source.encode()
            if action["channel"] == "email":
                assert orjson.loads(action["data"])["order_id"] == f"o-{number}"
        # Receipts: Avro too, each in its action's trace
        email_traces = {
            a["action_id"]: h["traceparent"] for a, h in actions.values() if a["channel"] == "email"
        }
        receipts = 0
        for message in deployment.read(names.receipts):
            raw = message.value()
            assert framed(raw)
            receipt = deserializer(raw, SerializationContext(message.topic(), MessageField.VALUE))
            action_of = orjson.loads(receipt["properties"])["action_id"]
            if action_of in email_traces:
                receipts += 1
                assert dict(message.headers())["traceparent"] == email_traces[action_of]
        assert receipts == customers

        # The dead letters: as they were (key, value, headers), the reason and path after
        dead = deployment.read(names.dlq)
        worker.wait_for("two dead letters", lambda: len(deployment.read(names.dlq)) == 2, 30)
        dead = deployment.read(names.dlq)
        by_value = {m.value(): m for m in dead}
        order = by_value[bad_order]
        assert order.key() == b"c-9"
        assert order.headers()[:2] == bad_headers
        said = dlq_reason(order.headers())
        assert said["reason"] == "properties of OrderPlaced: properties.total must be number"
        assert said["path"] == "properties.total"
        assert said["topic"] == names.events
        unknown = dlq_reason(by_value[b"\x00\x00\x0f\x42\x3f\x02"].headers())
        assert unknown["reason"] == "schema id 999999 is not in the schema registry"
    finally:
        worker.stop()


def test_a_schema_change_that_would_break_a_consumer_is_refused(
    deployment: Deployment, schema_registry: RegistryProcess, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(ROOT / "topics", home / "topics")
    shutil.copytree(ROOT / "journeys", home / "journeys")  # (its schema: what a worker reads)
    env = {
        **deployment.env,
        "SEGUE_HOME": str(home),
        "SEGUE_SCHEMA_REGISTRY_URL": schema_registry.url,
        "SEGUE_TOPIC_FORMATS": "events=avro",
    }
    subject = f"{deployment.prefix}events-value"
    first = segue(env, "topics", "apply")
    assert first.returncode == 0, first.stderr
    assert f"registered schema {subject}" in first.stdout
    again = segue(env, "topics", "apply")
    assert f"present   schema {subject}" in again.stdout  # the same schema: the same id

    avsc = home / "topics" / "schemas" / "event.avsc"
    schema = orjson.loads(avsc.read_bytes())
    original = list(schema["fields"])
    schema["fields"] = [*original, {"name": "tenant", "type": "string"}]
    avsc.write_bytes(orjson.dumps(schema))
    refused = segue(env, "topics", "apply")
    assert refused.returncode == 1
    assert f"INCOMPATIBLE {subject}: the new schema is not BACKWARD-compatible" in refused.stderr
    assert "field 'tenant' added without a default" in refused.stderr
    client = SchemaRegistryClient({"url": schema_registry.url})
    assert client.get_versions(subject) == [1]  # nothing registered

    schema["fields"] = [*original, {"name": "tenant", "type": "string", "default": ""}]
    avsc.write_bytes(orjson.dumps(schema))
    evolved = segue(env, "topics", "apply")
    assert evolved.returncode == 0, evolved.stderr
    assert client.get_versions(subject) == [1, 2]

    # a worker of a deployment whose topics are provisioned elsewhere only looks its schemas up
    schema["fields"] = [*original, {"name": "region", "type": "string", "default": "eu"}]
    avsc.write_bytes(orjson.dumps(schema))
    refused_start = segue(
        {**env, "SEGUE_CREATE_TOPICS": "false", "SEGUE_METRICS_PORT": "0"},
        "worker",
        "--journeys",
        str(JOURNEYS),
        "--processes",
        "1",
        timeout=60,
    )
    assert refused_start.returncode == 2
    assert refused_start.stderr.strip().endswith(
        f"{subject}: this schema is not registered (topics are provisioned elsewhere: "
        "register it there, or run `segue topics apply`)"
    )
    assert len(refused_start.stderr.strip().splitlines()) == 1, refused_start.stderr
