"""Avro (Confluent wire format) beside JSON: decode and encode cost per record (issue 17).

    .venv/bin/python bench/formats_codec.py [--events 20000] [--rounds 5]

The machines are noisy, so every codec runs in the same process, round after round in turn,
on the same records, timed in CPU time (``time.process_time``); the report gives each one's
median microseconds per record and its ratio to JSON. The records: the simulator's events
(seed 7) and the actions the examples' journeys decide on them.

- ``decode event``: what ingest does with one input value: JSON text through
  ``decode_event``; a framed Avro record through the wire decoder (``Decoder.wire_object``:
  unframe, fastavro's schemaless reader with the writer's schema, the JSON text fields parsed)
  then ``validate_event``; and, for reference, confluent-kafka's own ``AvroDeserializer`` then
  ``validate_event`` (what the thin wrapper is measured against);
  and the same JSON with the per-type property schemas off (what their check costs);
- ``encode action``: what the journeys agent does per action: ``orjson.dumps`` beside
  ``Writer.encode`` (Avro in the frame) and confluent-kafka's ``AvroSerializer``;
- sizes in bytes per record.

The registry is confluent-kafka's in-memory one (``mock://``): the schema is fetched once per
id and cached, so a real registry costs the same per record.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

from app.core.envelope import decode_event, validate_event  # noqa: E402
from app.core.event_properties import PropertyRules, use_rules  # noqa: E402
from app.core.event_properties import rules as property_rules  # noqa: E402
from app.formats.deployment import load_formats  # noqa: E402
from app.formats.registry import make_client  # noqa: E402
from app.formats.settings import DataSettings  # noqa: E402
from app.settings import Settings  # noqa: E402


def records(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        events_file, actions_file = Path(tmp) / "events.jsonl", Path(tmp) / "actions.jsonl"
        segue = [sys.executable, "-m", "app"]
        rate = 20
        subprocess.run(
            [
                *segue,
                "simulate",
                "--rate",
                str(rate),
                "--duration",
                str(n // rate + 1),
                "--seed",
                "7",
                "--out",
                str(events_file),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *segue,
                "replay",
                "--events",
                str(events_file),
                "--journeys",
                str(ROOT / "journeys"),
                "--policies",
                str(ROOT / "policies.yaml"),
                "--out",
                str(actions_file),
            ],
            check=True,
            capture_output=True,
        )
        events = [orjson.loads(line) for line in events_file.read_bytes().splitlines()][:n]
        actions = [orjson.loads(line) for line in actions_file.read_bytes().splitlines()]
    return events, actions


def per_record_us(work: Callable[[], None], count: int) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    events, actions = records(args.events)
    while len(actions) < 2_000:  # enough actions to time: the same ones again
        actions += actions
    data = DataSettings(
        schema_registry_url="mock://bench", topic_formats="events=avro,actions.*=avro"
    )
    client = make_client(data)
    formats = load_formats(Settings(), data, client=client)
    event_writer, action_writer = formats.writer("events"), formats.writer("actions.email")
    decoder = formats.decoder
    json_events = [orjson.dumps(e) for e in events]
    avro_events = [event_writer.encode(e) for e in events]
    assert all(
        validate_event(decoder.wire_object(a)) == decode_event(j)
        for a, j in zip(avro_events[:500], json_events[:500], strict=True)
    )
    schema_str = (ROOT / "topics" / "schemas" / "event.avsc").read_text()
    confluent_in = AvroDeserializer(client, schema_str)
    ctx = SerializationContext("events", MessageField.VALUE)
    confluent_out = AvroSerializer(
        client,
        (ROOT / "topics" / "schemas" / "action.avsc").read_text(),
        to_dict=lambda action, _ctx: action_writer.shape.to_datum(action),  # type: ignore[union-attr]
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    actx = SerializationContext("actions.email", MessageField.VALUE)

    def confluent_event(raw: bytes) -> dict[str, Any]:
        datum = confluent_in(raw, ctx)
        datum["properties"] = orjson.loads(datum["properties"])
        datum["context"] = orjson.loads(datum["context"])
        return validate_event(datum)

    def unchecked(raw: list[bytes]) -> None:
        before = property_rules()
        use_rules(PropertyRules.load("off"))
        try:
            for r in raw:
                decode_event(r)
        finally:
            use_rules(before)

    cases: dict[str, tuple[Callable[[], None], int]] = {
        "decode event: JSON (decode_event)": (
            lambda: [decode_event(r) for r in json_events] and None,
            len(json_events),
        ),
        "decode event: JSON, property schemas off": (
            lambda: unchecked(json_events),
            len(json_events),
        ),
        "decode event: Avro (Decoder + validate_event)": (
            lambda: [validate_event(decoder.wire_object(r)) for r in avro_events] and None,
            len(avro_events),
        ),
        "decode event: Avro (confluent AvroDeserializer + validate_event)": (
            lambda: [confluent_event(r) for r in avro_events] and None,
            len(avro_events),
        ),
        "encode action: JSON (orjson.dumps)": (
            lambda: [orjson.dumps(a) for a in actions] and None,
            len(actions),
        ),
        "encode action: Avro (Writer.encode)": (
            lambda: [action_writer.encode(a) for a in actions] and None,
            len(actions),
        ),
        "encode action: Avro (confluent AvroSerializer)": (
            lambda: [confluent_out(a, actx) for a in actions] and None,
            len(actions),
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for round_no in range(args.rounds):
        for name, (work, count) in cases.items():
            timings[name].append(per_record_us(work, count))
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"{len(events):,} events, {len(actions):,} actions, {args.rounds} rounds, CPU time")
    base = {
        "decode": medians["decode event: JSON (decode_event)"],
        "encode": medians["encode action: JSON (orjson.dumps)"],
    }
    for name, value in medians.items():
        ratio = value / base[name.split()[0]]
        print(f"  {name:66} {value:7.2f} us/record  {ratio:5.2f}x JSON")
    sizes = {
        "event JSON": statistics.mean(len(r) for r in json_events),
        "event Avro": statistics.mean(len(r) for r in avro_events),
        "action JSON": statistics.mean(len(orjson.dumps(a)) for a in actions),
        "action Avro": statistics.mean(len(action_writer.encode(a)) for a in actions),
    }
    print("  mean bytes per record: " + ", ".join(f"{k} {v:,.0f}" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
