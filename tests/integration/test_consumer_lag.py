"""The lag gauge and the stall report on the broker (issue 13: ingest stalled while the lag
gauge read 0).

Events wait on the broker before the worker starts, and the worker never fetches one input
partition (``SEGUE_HOLD_PARTITION``, app/runtime/faults.py: librdkafka's pause, unknown to the
rest of the process, like a fetcher that stopped). The held partition must show every record
it holds as lag, be reported stalled once, and, once let go, be read to a lag of 0."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from app.kafka_io import make_consumer, watermarks
from app.topics.specs import TopicNames
from tests.integration.live_support import WORKER_ARGS, journey_events, produce_events
from tests.integration.support import Deployment, WorkerProcess

HELD = 1


def samples(worker: WorkerProcess, name: str) -> dict[tuple[str, ...], float]:
    """A metric's samples by their label values (sorted by label name); {} if not up yet."""
    url = f"http://{worker.metrics_host}:{worker.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {
        tuple(v for _k, v in sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.tansu_smoke
def test_a_partition_nobody_reads_shows_its_backlog_as_lag_and_is_reported_stalled(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    names = TopicNames(deployment.settings)
    produce_events(deployment, journey_events(400, 60, seed=13, start_ms=1_800_000_000_000))
    consumer = make_consumer(deployment.settings)
    try:
        held = watermarks(consumer, TopicPartition(names.events, HELD))[1]
    finally:
        consumer.close()
    assert held > 0

    release = tmp_path / "release"
    deployment.env.update(
        {
            "SEGUE_HOLD_PARTITION": f"{names.events}:{HELD}",
            "SEGUE_HOLD_UNTIL": str(release),
            "SEGUE_LAG_INTERVAL_S": "0.5",
            "SEGUE_STALL_AFTER_S": "2",
        }
    )
    worker = start_worker("0", *WORKER_ARGS)
    partitions = [str(p) for p in range(deployment.settings.partitions)]

    def lag() -> dict[tuple[str, ...], float]:
        return samples(worker, "segue_consumer_lag_records")

    def events_lag() -> dict[str, float]:
        return {p: v for (p, topic), v in lag().items() if topic == names.events}

    # the other partitions are read to the end; the held one shows all it holds, and stalls
    worker.wait_for(
        "the held partition's backlog as lag, the others' 0",
        lambda: events_lag() == {p: (held if p == str(HELD) else 0) for p in partitions},
    )
    worker.wait_for(
        "the stall",
        lambda: samples(worker, "segue_consumer_stalls_total").get((names.events,)) == 1,
    )
    assert samples(worker, "segue_consumer_stalled_partitions")[(names.events,)] == 1
    stalled = f"stalled: {names.events}[{HELD}] has {held} records waiting and none read for"
    assert stalled in worker.log()

    # let go: read to the end, the stall is over, and it was reported once
    release.touch()
    worker.wait_for(
        "every input partition read and committed",
        lambda: len(lag()) >= 2 * len(partitions) and not any(lag().values()),
    )
    worker.wait_for(
        "the stall's end",
        lambda: samples(worker, "segue_consumer_stalled_partitions")[(names.events,)] == 0,
    )
    log = worker.log()
    assert f"stall over (reading): {names.events}[{HELD}]" in log
    assert log.count(f"stalled: {names.events}[{HELD}]") == 1
    assert samples(worker, "segue_consumer_stalls_total")[(names.events,)] == 1
