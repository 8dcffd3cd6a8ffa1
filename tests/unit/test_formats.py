"""Issue 17: records in the Confluent wire format (Avro, JSON Schema) beside JSON, through a
registry. These run on confluent-kafka's in-memory registry (``mock://``); the integration tests
(tests/integration/test_formats_live.py) run the same against a real one (Apicurio)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.envelope import validate_event
from app.formats.avro_records import AvroShape, AvroShapeError
from app.formats.codecs import Decoder, FormatProblem
from app.formats.deployment import FormatSetupError, load_formats, topic_formats
from app.formats.registry import SchemaCache, ensure_registered, explain_avro_change, make_client
from app.formats.settings import DataSettings, format_overrides
from app.formats.wire import frame, framed, unframe
from app.paths import SCHEMAS_DIR
from app.settings import Settings
from app.topics.specs import load_specs

EVENT_AVSC = orjson.loads((SCHEMAS_DIR / "event.avsc").read_bytes())
ACTION_AVSC = orjson.loads((SCHEMAS_DIR / "action.avsc").read_bytes())
_registries = itertools.count()


def data_settings(**fields: Any) -> DataSettings:
    # each test its own in-memory registry (a new mock:// name)
    return DataSettings(schema_registry_url=f"mock://t{next(_registries)}", **fields)


EVENT = {
    "event_id": "e-1",
    "type": "OrderPlaced",
    "customer_id": "c-1",
    "anonymous_id": None,
    "timestamp": "2026-03-02T10:00:00Z",
    "properties": {"order_id": "o-1", "total": 42.5, "items": [{"product_id": "p", "price": 1}]},
    "context": {"channel": "web"},
}
ACTION = {
    "action_id": "a1",
    "channel": "email",
    "context": {"category": "service", "visit": 1},
    "customer_id": "c-1",
    "data": {"plan": "premium", "nested": {"x": [1, 2]}},
    "decided_at": "2026-03-02T10:00:01.000Z",
    "entry": 1,
    "event_time": "2026-03-02T10:00:00Z",
    "journey": "onboarding",
    "journey_version": 2,
    "model_version": "churn-1+intent-2",
    "profile": {"id": "c-1", "attributes": {"email": "x@example.com"}},
    "scores": {"churn": 0.25, "intent": 0.5},
    "step": "welcome",
    "template": "onboarding_welcome",
    "trigger_event_id": "e-1",
    "variant": None,
    "source_timestamp": "2026-03-02T10:00:00.000Z",
    "handoff": {"transcript": ["hi"]},  # not named by action.avsc: travels in `extra`
}


def test_the_wire_format_is_a_zero_byte_a_schema_id_and_the_body() -> None:
    raw = frame(258, b"body")
    assert raw == b"\x00\x00\x00\x01\x02body"
    assert framed(raw) and not framed(b'{"a":1}') and not framed(b"") and not framed(None)
    schema_id, body = unframe(raw)
    assert schema_id == 258 and bytes(body) == b"body"
    with pytest.raises(ValueError, match="shorter than its 5-byte header"):
        unframe(b"\x00\x00\x01")


def test_an_event_and_an_action_survive_avro_whole() -> None:
    event_shape, action_shape = AvroShape(EVENT_AVSC), AvroShape(ACTION_AVSC)
    assert event_shape.read(event_shape.write(EVENT)) == EVENT
    back = action_shape.read(action_shape.write(ACTION))
    assert back == ACTION


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(properties=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_properties_come_back_from_avro_as_they_went(properties: dict[str, Any]) -> None:
    shape = AvroShape(EVENT_AVSC)
    event = {**EVENT, "properties": properties}
    assert shape.read(shape.write(event)) == event


def test_bytes_that_are_not_the_schemas_body_are_a_reason_not_a_crash() -> None:
    shape = AvroShape(EVENT_AVSC)
    with pytest.raises(AvroShapeError, match=r"does not decode with dev\.segue\.Event"):
        shape.read(b"\x02")
    body = shape.write(EVENT)
    with pytest.raises(AvroShapeError):
        shape.read(body[:-3])


def test_the_decoder_reads_json_and_every_registered_format_on_one_topic() -> None:
    data = data_settings()
    client = make_client(data)
    avro_id = ensure_registered(client, "events-value", "AVRO", EVENT_AVSC).schema_id
    event_schema = orjson.loads((SCHEMAS_DIR / "event.schema.json").read_bytes())
    json_id = ensure_registered(client, "other-value", "JSON", event_schema).schema_id
    decoder = Decoder(SchemaCache(client))
    as_json = orjson.dumps(EVENT)
    as_avro = frame(avro_id, AvroShape(EVENT_AVSC).write(EVENT))
    as_json_schema = frame(json_id, as_json)
    for raw in (as_json, as_avro, as_json_schema):
        assert validate_event(decoder.loads(raw))["properties"]["total"] == 42.5
    with pytest.raises(FormatProblem, match="schema id 999 is not in the schema registry"):
        decoder.loads(frame(999, b""))
    with pytest.raises(FormatProblem, match="no schema registry is configured"):
        Decoder().loads(as_avro)
    with pytest.raises(FormatProblem, match="bad JSON"):
        decoder.loads(b"{nope")


def test_formats_come_from_topics_yaml_unless_overridden() -> None:
    specs = load_specs(Settings(topic_prefix="p."))
    formats = topic_formats(specs, DataSettings(topic_formats="events=avro,actions.*=json_schema"))
    assert formats["p.events"] == "avro"
    assert formats["p.actions.email"] == formats["p.actions.agent"] == "json_schema"
    assert formats["p.events.receipts"] == "json"
    with pytest.raises(FormatSetupError, match=r"names no topic of topics\.yaml: evnts"):
        topic_formats(specs, DataSettings(topic_formats="evnts=avro"))
    assert format_overrides(" events = avro ,") == {"events": "avro"}
    with pytest.raises(ValueError, match="format 'protobuf' is not one of"):
        format_overrides("events=protobuf")
    with pytest.raises(ValueError, match="write TOPIC=FORMAT"):
        format_overrides("events")


def test_a_deployment_registers_its_schemas_once_and_writes_what_it_reads() -> None:
    data = data_settings(topic_formats="events=avro,actions.*=avro,events.receipts=json_schema")
    client = make_client(data)  # (each in-memory client is a registry of its own)
    formats = load_formats(Settings(topic_prefix="p."), data, client=client)
    subjects = {done.subject: done for done in formats.registered}
    assert set(subjects) == {
        "p.events-value",
        "p.events.receipts-value",
        *(f"p.actions.{c}-value" for c in ("email", "sms", "push", "webhook", "in_app", "agent")),
    }
    assert all(done.created for done in formats.registered)
    again = load_formats(Settings(topic_prefix="p."), data, client=client)
    assert {d.subject: d.schema_id for d in again.registered} == {
        s: d.schema_id for s, d in subjects.items()
    }
    assert not any(d.created for d in again.registered)
    writer = formats.writer("p.actions.email")
    raw = writer.encode(ACTION)
    assert framed(raw) and unframe(raw)[0] == subjects["p.actions.email-value"].schema_id
    assert ("content-type", b"application/avro") in writer.headers
    assert formats.decoder.loads(raw) == ACTION
    receipts = formats.writer("p.events.receipts")
    assert formats.decoder.loads(receipts.encode(EVENT)) == EVENT  # JSON text in the frame
    assert formats.writer("p.segue.outcomes").encode({"a": 1}) == b'{"a":1}'  # JSON elsewhere


def test_subjects_follow_the_estates_naming_strategy() -> None:
    for strategy, subject in (
        ("record", "dev.segue.Event"),
        ("topic_record", "events-dev.segue.Event"),
    ):
        data = data_settings(topic_formats="events=avro", subject_name_strategy=strategy)
        assert [d.subject for d in load_formats(Settings(), data).registered] == [subject]


def test_a_wire_format_without_a_registry_is_refused_in_one_line() -> None:
    with pytest.raises(
        FormatSetupError, match="need a schema registry: set SEGUE_SCHEMA_REGISTRY_URL"
    ):
        load_formats(Settings(), DataSettings(topic_formats="events=avro"))
    assert load_formats(Settings(), DataSettings()).writers == {}  # JSON everywhere: no registry


def test_not_registering_looks_the_schema_up_and_refuses_when_it_is_absent() -> None:
    data = data_settings(topic_formats="events=avro")
    client = make_client(data)
    with pytest.raises(FormatSetupError, match="this schema is not registered"):
        load_formats(Settings(), data, register=False, client=client)
    first = load_formats(Settings(), data, client=client).registered[0]
    looked_up = load_formats(Settings(), data, register=False, client=client).registered[0]
    assert looked_up.schema_id == first.schema_id and not looked_up.created


def test_an_incompatible_avro_change_is_explained_field_by_field() -> None:
    new = {**EVENT_AVSC, "fields": [*EVENT_AVSC["fields"], {"name": "tenant", "type": "string"}]}
    assert explain_avro_change(EVENT_AVSC, new) == ["field 'tenant' added without a default"]
    dropped = {**EVENT_AVSC, "fields": [f for f in EVENT_AVSC["fields"] if f["name"] != "type"]}
    assert explain_avro_change(EVENT_AVSC, dropped) == ["field 'type' removed (it has no default)"]
    retyped = {
        **EVENT_AVSC,
        "fields": [
            {**f, "type": "long"} if f["name"] == "timestamp" else f for f in EVENT_AVSC["fields"]
        ],
    }
    assert explain_avro_change(EVENT_AVSC, retyped) == [
        "field 'timestamp' changed type from string to long"
    ]
    defaulted = {
        **EVENT_AVSC,
        "fields": [*EVENT_AVSC["fields"], {"name": "t", "type": "string", "default": ""}],
    }
    assert explain_avro_change(EVENT_AVSC, defaulted) == []


class FlakyCache:
    """A registry that answers for some ids, has never heard of others, or is away."""

    def __init__(self, schemas: dict[int, tuple[str, Any]], away: bool = False) -> None:
        self.schemas, self.away, self.asked = schemas, away, 0

    def get(self, schema_id: int) -> tuple[str, Any]:
        from app.formats.errors import RegistryUnavailable

        self.asked += 1
        if self.away:
            raise RegistryUnavailable("schema registry unreachable: connection refused")
        if schema_id not in self.schemas:
            raise KeyError(schema_id)
        kind, schema = self.schemas[schema_id]
        if not isinstance(schema, dict):
            raise TypeError(f"schema id {schema_id} is not a record schema Segue reads")
        return kind, schema


def test_a_registry_away_is_not_the_records_fault_and_unknown_ids_are_asked_once() -> None:
    from app.formats.errors import RegistryUnavailable

    away = Decoder(FlakyCache({}, away=True))  # type: ignore[arg-type]
    with pytest.raises(RegistryUnavailable):
        away.loads(frame(7, b"\x02"))
    cache = FlakyCache({3: ("AVRO", "string")})
    decoder = Decoder(cache)  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(FormatProblem, match="schema id 9 is not in the schema registry"):
            decoder.loads(frame(9, b""))
        with pytest.raises(FormatProblem, match="schema id 3 is not a record schema"):
            decoder.loads(frame(3, b""))
    assert cache.asked == 2  # each id once: the problem is kept


def test_an_estates_logical_types_read_as_json_would_have_them() -> None:
    import random
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from app.core.timeutil import format_ms
    from app.formats.avro_records import from_datum

    rng = random.Random(7)
    for ms in [rng.randrange(0, 7_000_000_000_000) for _ in range(2_000)] + [4390952127780]:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        assert from_datum({"t": moment})["t"] == format_ms(ms)  # exact, no float rounding
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 (as fastavro gives a local-timestamp-millis)
    assert from_datum({"b": b"\x01\x02", "d": Decimal("1.25"), "n": naive}) == {
        "b": "AQI=",
        "d": 1.25,
        "n": "2026-01-01T00:00:00Z",  # naive (local-timestamp): read as UTC, whatever the host
    }
    orjson.dumps(from_datum({"b": b"\xff"}))  # replay and tail print it


def test_a_registry_url_without_its_scheme_is_refused_in_one_line() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give the URL with http:// or https://"):
        DataSettings(schema_registry_url="registry:8081")
