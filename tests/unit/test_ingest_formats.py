"""Issue 17 at ingest: an input record in JSON or in the wire format becomes the same event; its
traceparent rides along to what the event causes; a rejected one goes to the DLQ as it was."""

from __future__ import annotations

from typing import Any

import orjson

from app.core.dlq import dlq_reason
from app.core.identity import IdentityConfig
from app.formats.avro_records import AvroShape
from app.formats.codecs import Decoder
from app.formats.registry import SchemaCache, ensure_registered, make_client
from app.formats.settings import DataSettings
from app.formats.wire import frame
from app.paths import SCHEMAS_DIR
from app.settings import Settings
from app.stream.identity_agent import IngestRouter
from app.stream.sink import Batch
from app.topics.specs import TopicNames
from app.worker import ingest

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EVENT = {
    "event_id": "e-1",
    "type": "OrderPlaced",
    "customer_id": "c-1",
    "timestamp": "2026-03-02T10:00:00Z",
    "properties": {"order_id": "o-1", "total": 9.5},
    "context": {},
}


class Message:
    def __init__(self, value: bytes, key: bytes | None, headers: Any = None) -> None:
        self._value, self._key, self._headers = value, key, headers

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> Any:
        return self._headers

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return 7

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_772_445_600_000)


class Outlet:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []

    def batch(self) -> Batch:
        return Batch()

    def produce(
        self, batch: Batch, topic: str, key: bytes | None, value: bytes | None, **kw: Any
    ) -> None:
        self.sent.append((topic, key, value, kw.get("headers")))


def run(messages: list[Message], decoder: Decoder) -> tuple[TopicNames, Outlet]:
    names = TopicNames(Settings())
    outlet = Outlet()
    router = IngestRouter(names, outlet, 4, IdentityConfig())
    before = ingest.DECODER
    ingest.DECODER = decoder
    try:
        out = outlet.batch()
        for message in messages:
            ingest.forward(names, outlet, out, router, message)
    finally:
        ingest.DECODER = before
    return names, outlet


def test_json_and_avro_records_become_the_same_event_with_the_trace() -> None:
    client = make_client(DataSettings(schema_registry_url="mock://ingest"))
    avsc = orjson.loads((SCHEMAS_DIR / "event.avsc").read_bytes())
    schema_id = ensure_registered(client, "events-value", "AVRO", avsc).schema_id
    avro = frame(schema_id, AvroShape(avsc).write(EVENT))
    headers = [("traceparent", TRACE.encode())]
    names, outlet = run(
        [Message(orjson.dumps(EVENT), b"c-1", headers), Message(avro, b"c-1", headers)],
        Decoder(SchemaCache(client)),
    )
    forwarded = [
        orjson.loads(v or b"") for t, _k, v, _h in outlet.sent if t == names.customer_events
    ]
    assert len(forwarded) == 2 and forwarded[0] == forwarded[1]
    assert forwarded[0]["properties"] == EVENT["properties"]
    assert forwarded[0]["source"]["traceparent"] == TRACE


def test_a_rejected_record_goes_to_the_dlq_as_it_was() -> None:
    bad = orjson.dumps({**EVENT, "properties": {"order_id": "o", "total": "9.50"}})
    headers = [("traceparent", TRACE.encode()), ("x-origin", b"shop")]
    names, outlet = run(
        [Message(bad, b"c-1", headers), Message(frame(5, b"\x02"), b"c-2")], Decoder()
    )
    dead = [(k, v, h) for t, k, v, h in outlet.sent if t == names.dlq]
    assert [(k, v) for k, v, _h in dead] == [(b"c-1", bad), (b"c-2", frame(5, b"\x02"))]
    assert dead[0][2][:2] == headers
    said = dlq_reason(dead[0][2])
    assert said == {
        "reason": "properties of OrderPlaced: properties.total must be number",
        "path": "properties.total",
        "topic": "events",
        "partition": "1",
        "offset": "7",
        "timestamp": "1772445600000",
    }
    assert dlq_reason(dead[1][2])["reason"].startswith(
        "a record in the Confluent wire format (schema id 5) but no schema registry"
    )


def test_a_registry_away_stops_ingest_instead_of_dead_lettering() -> None:
    import pytest

    from app.formats.errors import RegistryUnavailable

    class Away:
        def get(self, schema_id: int) -> Any:
            raise RegistryUnavailable("schema registry unreachable: connection refused")

    with pytest.raises(RegistryUnavailable):
        run([Message(frame(3, b"\x02"), b"c-1")], Decoder(Away()))  # type: ignore[arg-type]


def test_a_callback_receipt_without_a_journey_is_a_valid_event() -> None:
    from app.core.delivery import receipts
    from app.core.envelope import decode_event

    event = receipts.receipt_event(
        receipts.OPENED,
        {"action_id": "a1", "customer_id": "c-1"},
        1_772_445_600_000,
        channel="email",
    )
    assert event["properties"]["journey"] is None
    assert decode_event(orjson.dumps(event))["properties"]["action_id"] == "a1"
