"""The schema registry Segue starts itself (Apicurio Registry, ``make registry``) speaks the
Confluent Schema Registry API that confluent-kafka's client, serializers and compatibility checks
use: registration, lookup by id, per-subject BACKWARD compatibility, and Avro round trips."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError as ClientError
from confluent_kafka.serialization import MessageField, SerializationContext

from app.registry import RegistryProcess, start_registry

FIELDS: list[dict[str, object]] = [
    {"name": "profile_id", "type": "string"},
    {"name": "amount", "type": "long"},
]
V1: dict[str, object] = {
    "type": "record",
    "name": "Event",
    "namespace": "dev.segue.test",
    "fields": FIELDS,
}
#: adds a field with a default: readers of V2 can read V1 data (BACKWARD compatible)
V2_WITH_DEFAULT = {
    **V1,
    "fields": [*FIELDS, {"name": "channel", "type": "string", "default": "web"}],
}
#: adds a required field: V1 data lacks it (BACKWARD incompatible)
V2_REQUIRED = {**V1, "fields": [*FIELDS, {"name": "country", "type": "string"}]}


def avro(schema: Mapping[str, object]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


@pytest.fixture
def registry(schema_registry: RegistryProcess) -> RegistryProcess:
    return schema_registry  # the run's one registry (tests/integration/conftest.py)


@pytest.fixture
def client(registry: RegistryProcess) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url})


def subject() -> str:
    return f"segue-test-{uuid.uuid4().hex[:8]}-value"


def test_it_serves_only_on_loopback_and_answers_the_confluent_api(
    registry: RegistryProcess,
) -> None:
    assert registry.url.startswith("http://127.0.0.1:")
    assert registry.url.endswith("/apis/ccompat/v7")
    with urllib.request.urlopen(f"{registry.url}/subjects", timeout=5) as response:
        assert response.status == 200
        assert isinstance(json.loads(response.read()), list)


def test_register_and_read_back_by_id(client: SchemaRegistryClient) -> None:
    name = subject()
    schema_id = client.register_schema(name, avro(V1))
    assert isinstance(schema_id, int)
    again = client.register_schema(name, avro(V1))
    assert again == schema_id  # the same schema under the same subject keeps its id
    fetched = client.get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert fetched.schema_str is not None
    assert json.loads(fetched.schema_str) == V1
    latest = client.get_latest_version(name)
    assert latest.schema_id == schema_id
    assert latest.version == 1
    assert name in client.get_subjects()


def test_backward_compatibility_per_subject(client: SchemaRegistryClient) -> None:
    name = subject()
    client.register_schema(name, avro(V1))
    client.set_compatibility(subject_name=name, level="BACKWARD")
    assert client.get_compatibility(name) == "BACKWARD"

    assert client.test_compatibility(name, avro(V2_REQUIRED)) is False
    with pytest.raises(ClientError) as refused:
        client.register_schema(name, avro(V2_REQUIRED))
    assert refused.value.http_status_code == 409

    assert client.test_compatibility(name, avro(V2_WITH_DEFAULT)) is True
    v2_id = client.register_schema(name, avro(V2_WITH_DEFAULT))
    latest = client.get_latest_version(name)
    assert (latest.version, latest.schema_id) == (2, v2_id)


def test_avro_round_trip_through_the_registry(client: SchemaRegistryClient) -> None:
    topic = f"segue-test-{uuid.uuid4().hex[:8]}"
    serializer = AvroSerializer(client, json.dumps(V1))  # registers under TOPIC-value
    deserializer = AvroDeserializer(client)  # the writer's schema comes from the registry by id
    context = SerializationContext(topic, MessageField.VALUE)
    record = {"profile_id": "p-42", "amount": 1234}

    payload = serializer(record, context)
    assert payload is not None
    assert payload[0] == 0  # Confluent wire format: magic byte, 4-byte schema id, Avro body
    schema_id = int.from_bytes(payload[1:5], "big")
    assert client.get_latest_version(f"{topic}-value").schema_id == schema_id
    assert deserializer(payload, context) == record


def test_stop_ends_the_process(tmp_path: Path) -> None:
    started = start_registry(log_dir=tmp_path)
    pid = started.pid
    started.stop()
    assert not started.running()
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
