"""`segue replay --topic`: the events read from the deployment's events topic, whole or by
offsets, give the bytes a replay of the same events from a file gives."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from app.topics.specs import TopicNames
from tests.integration.live_support import JOURNEYS, POLICIES, journey_events
from tests.integration.support import Deployment, envelope_bytes
from tests.integration.test_cli import segue

START_MS = 1_795_000_000_000


def replay(deployment: Deployment, out: Path, *source: str) -> subprocess.CompletedProcess[str]:
    out.mkdir()
    return segue(
        deployment.env,
        "replay",
        *source,
        *("--journeys", str(JOURNEYS), "--policies", str(POLICIES)),
        *("--out", str(out / "actions"), "--decisions", str(out / "decisions")),
        *("--outcomes", str(out / "outcomes"), "--until", "2026-12-31T00:00:00Z"),
    )


def outputs(folder: Path) -> list[bytes]:
    return [(folder / name).read_bytes() for name in ("actions", "decisions", "outcomes")]


@pytest.mark.tansu_smoke
def test_replay_from_the_topic_equals_replay_from_a_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    events = journey_events(300, 30, seed=4, start_ms=START_MS)
    topic = TopicNames(deployment.settings).events
    records = [envelope_bytes(e) for e in events]
    deployment.produce([*records[:150], (b"c-x", b"not json"), *records[150:]], topic)

    from_file = tmp_path / "events.jsonl"
    from_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    by_file = replay(deployment, tmp_path / "file", "--events", str(from_file))
    assert by_file.returncode == 0, by_file.stderr
    by_topic = replay(deployment, tmp_path / "topic", "--topic")
    assert by_topic.returncode == 1, by_topic.stderr  # the record that is not JSON, named
    assert f"{topic}[" in by_topic.stderr and "skipped: bad JSON" in by_topic.stderr
    assert outputs(tmp_path / "topic") == outputs(tmp_path / "file")
    assert outputs(tmp_path / "file")[0], "the events emit actions"

    # offsets: partition 0 up to its 40th record, and partition 1 from its 10th
    stored = deployment.read(topic)
    p0 = [m for m in stored if m.partition() == 0][:40]
    p1 = [m for m in stored if m.partition() == 1][10:]
    picked = [m.value() for m in p0 + p1 if m.value() != b"not json"]
    subset = tmp_path / "subset.jsonl"
    subset.write_bytes(b"".join(v + b"\n" for v in picked))
    by_subset = replay(deployment, tmp_path / "subset", "--events", str(subset))
    assert by_subset.returncode == 0, by_subset.stderr
    stop = p0[-1].offset() + 1
    ranges = f"0:-{stop},1:{p1[0].offset()}-"
    by_offsets = replay(deployment, tmp_path / "offsets", "--topic", "--offsets", ranges)
    assert by_offsets.returncode in (0, 1), by_offsets.stderr
    assert outputs(tmp_path / "offsets") == outputs(tmp_path / "subset")

    no_such = replay(deployment, tmp_path / "nine", "--topic", "--offsets", "9:0-")
    assert no_such.returncode == 2 and "no partition 9" in no_such.stderr
    assert "Traceback" not in no_such.stderr

    # `segue tail` of the topic, saved, replays as the events it shows: the same outputs as
    # the file, and the one record that is not JSON is reported and skipped as with --topic
    tailed = segue(deployment.env, "tail", topic, "--from-beginning", "--no-follow")
    assert tailed.returncode == 0, tailed.stderr
    assert len(tailed.stdout.splitlines()) == len(events) + 1
    saved = tmp_path / "tail.jsonl"
    saved.write_text(tailed.stdout)
    by_tail = replay(deployment, tmp_path / "tail", "--events", str(saved))
    assert by_tail.returncode == 1 and "skipped" in by_tail.stderr, by_tail.stderr
    assert outputs(tmp_path / "tail") == outputs(tmp_path / "file")
