"""Issue 13 on the real broker: each poison pill of the fault probe among valid traffic. The
worker never exits, each pill is on the DLQ with its reason, and every valid event's actions
and final states equal the pure core's (docs/pipeline.md, "Limits")."""

from __future__ import annotations

from hashlib import sha256
from typing import Any

import orjson

from app.core.dlq import dlq_reason
from app.core.timeutil import format_ms
from app.topics.specs import TopicNames
from tests.integration.live_support import (
    WORKER_ARGS,
    Expected,
    clock_events,
    journey_events,
    produce_events,
    wait_for_actions,
    wait_for_state,
)
from tests.integration.support import Deployment
from tests.integration.test_live_journeys import assert_same_actions, future_ms

DAY_MS = 86_400_000


def pill(event_id: str, customer: str, timestamp: str, **extra: Any) -> bytes:
    body = {"event_id": event_id, "type": "PageViewed", "customer_id": customer}
    return orjson.dumps({**body, "timestamp": timestamp, "properties": {}, **extra})


def pills(start: int) -> dict[str, tuple[bytes, bytes, str]]:
    """name -> (key, value, the start of the DLQ reason)."""
    when = format_ms(start + 5_000)
    deep = b'{"a":' * 300 + b"1" + b"}" * 300
    nested = pill("p-deep", "c-1", when)[:-1] + b',"context":' + deep + b"}"
    oversize = pill("p-big", "c-2", when, properties={"blob": "x" * 1_600_000})
    long_text = pill("p-long", "c-5", when, properties={"bio": "y" * 1_000_000})
    return {
        "long string": (b"c-5", long_text, "properties: a string of 1000000"),
        "deep": (b"c-1", nested, "context: nested deeper"),
        "overflow": (b"c-1", pill("p-ovf", "c-1", "9999-12-31T23:59:59-23:59"), "timestamp out"),
        "year 9999": (b"c-2", pill("p-9999", "c-2", "9999-12-31T23:59:59Z"), "timestamp out"),
        "year 1": (b"c-3", pill("p-0001", "c-3", "0001-01-01T00:00:00Z"), "timestamp out"),
        "clock key": (b"x", pill("p-nul", "\u0000clock/1", when), "customer_id contains"),
        "far ahead": (
            b"c-4",
            pill("p-ahead", "c-4", format_ms(start + 40 * DAY_MS)),
            "timestamp too far ahead",
        ),
        "oversize": (b"c-2", oversize, "oversize payload"),
    }


def test_poison_pills_go_to_the_dlq_and_the_worker_goes_on(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    events = journey_events(200, 20, seed=21, start_ms=start)
    # six ~0.9 MB trait events (30 strings of 30,000 characters each, within the event's
    # limits): valid, their big values not kept (the profile's size budget)
    traits = [
        {
            "event_id": f"big-{i}",
            "type": "ProfileUpdated",
            "customer_id": "c-5",
            "timestamp": format_ms(start + 9_950 + i),  # between events 99 and 100
            "properties": {**{f"blob{i}-{j}": "y" * 30_000 for j in range(30)}, "plan": f"p{i}"},
        }
        for i in range(6)
    ]
    # events just under the 1 MiB limit, one anonymous (it goes through segue.identity and
    # segue.customer-events, where the normalised copy is a little larger than the original):
    # valid, handled, and no internal topic refuses them
    near_limit = []
    for i in range(2):
        near: dict[str, Any] = {
            "event_id": f"near-{i}",
            "type": "PageViewed",
            **({"anonymous_id": "anon-big"} if i else {"customer_id": "c-6"}),
            "timestamp": format_ms(start + 9_960 + i),
            "properties": {f"part{j}": "z" * 30_000 for j in range(34)},
        }
        pad = 1_048_576 - 40 - len(orjson.dumps(near))  # 40 bytes under the limit
        near["properties"]["pad"] = "z" * (pad - len(',"pad":""'))
        near_limit.append(near)
    assert all(1_048_500 < len(orjson.dumps(e)) <= 1_048_576 for e in near_limit)
    traits += near_limit
    until = start + len(events) * 100 + 60_000
    end = clock_events(deployment.settings.partitions, until, "end")
    expected = Expected(events + traits + end, until)

    worker = start_worker("0", *WORKER_ARGS)
    names = TopicNames(deployment.settings)
    produce_events(deployment, events[:100])
    bad = pills(start)
    deployment.produce([(key, value) for key, value, _why in bad.values()], names.events)
    produce_events(deployment, traits)
    produce_events(deployment, events[100:])
    produce_events(deployment, end)

    live = wait_for_actions(deployment, [worker], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, worker, expected)

    dead = {}
    by_value = {}
    for message in deployment.read(names.dlq):
        said = dlq_reason(message.headers())
        dead[said["offset"]] = said
        # (over 2 MiB only the head would be kept, with the hash of the whole)
        by_value[said.get("original-sha256") or sha256(message.value() or b"").hexdigest()] = said
    for name, (_key, value, why) in bad.items():
        record = by_value.get(sha256(value).hexdigest())
        assert record is not None, (
            f"{name} is not on the DLQ: {[r['reason'] for r in dead.values()]}"
        )
        assert record["reason"].startswith(why), (name, record["reason"])
    assert len(dead) == len(bad)
    profiles = deployment.latest_by_key(names.profiles_changelog)
    assert len(profiles[b"c-5"] or b"") < 20_000  # the 6 MB of traits left a small profile
    assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
    assert worker.metric("segue_internal_errors_total") == 0
