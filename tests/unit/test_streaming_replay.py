"""The streaming replay (app/replay/) against the in-memory one: the same bytes out, whatever
the budgets. Small budgets force every path the large inputs take: event runs on disk, states
evicted from the cache and read back, output runs merged."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.envelope import validate_event
from app.core.identity import IdentityConfig
from app.core.identity_replay import replay_resolved
from app.core.journeys.definitions import load_journeys, load_policies
from app.core.journeys.engine import Engine
from app.core.journeys.replay import ReplayError, dump_lines, replay
from app.core.timeutil import format_ms
from app.models.scorer import load_scorer
from app.replay.sorter import ExternalSorter
from app.replay.sources import SourceError, parse_offsets
from app.replay.streaming import Outputs, run, sort_events
from app.sim import DEFAULT_START_MS, simulate

ROOT = Path(__file__).resolve().parents[2]


@cache
def traffic() -> tuple[bytes, ...]:
    """Two simulated hours with identities, the odd exact copy (a producer's retry) and a few
    erasure requests an hour in."""
    events = list(simulate(11, 3.0, 2 * 3600.0, DEFAULT_START_MS))  # type: ignore[arg-type]
    events += events[::97]  # copies: the same id again, dropped once each
    customers = sorted({e["customer_id"] for e in events if e.get("customer_id")})[::40]
    events += [
        {
            "event_id": f"erase-{c}",
            "type": "ErasureRequested",
            "customer_id": c,
            "timestamp": format_ms(DEFAULT_START_MS + 3_600_000),
            "properties": {},
        }
        for c in customers
    ]
    return tuple(orjson.dumps(e) for e in events)


def engine() -> Engine:
    return Engine(
        load_journeys(ROOT / "journeys"),
        load_policies(ROOT / "policies.yaml"),
        load_scorer(ROOT / "models"),
    )


def stream(tmp_path: Path, identity: IdentityConfig | None, until: int | None = None) -> Path:
    """The streaming replay with budgets small enough to spill everything; its outputs' folder."""
    out = tmp_path / "out"
    out.mkdir()
    skipped: list[str] = []
    raws = ((f"line {n}", raw) for n, raw in enumerate(traffic(), 1))
    events = sort_events(
        raws, tmp_path, lambda where, why: skipped.append(why), budget_bytes=20_000
    )
    assert len(events.events.runs) > 10 and not skipped
    result = run(
        events,
        engine(),
        identity,
        tmp_path,
        Outputs(out / "actions", out / "decisions", out / "outcomes"),
        until,
        output_budget=5_000,
        states_cached=16,
    )
    (out / "counts").write_bytes(
        orjson.dumps([result.events, result.customers, result.duplicates, result.failures])
    )
    return out


def test_without_identity_it_writes_what_the_in_memory_replay_gives(tmp_path: Path) -> None:
    expected = replay([validate_event(orjson.loads(r)) for r in traffic()], engine())
    out = stream(tmp_path, None)
    assert expected.actions and expected.outcomes and expected.duplicates
    assert (out / "actions").read_bytes() == dump_lines(expected.actions)
    assert (out / "decisions").read_bytes() == dump_lines(expected.decisions)
    assert (out / "outcomes").read_bytes() == dump_lines(expected.outcomes)
    counts = orjson.loads((out / "counts").read_bytes())
    assert counts == [expected.events, expected.customers, expected.duplicates, expected.failures]


def test_with_identity_it_writes_what_replay_resolved_gives(tmp_path: Path) -> None:
    config = IdentityConfig()
    until = DEFAULT_START_MS + 3 * 24 * 3600 * 1000  # three days on: the waits all fire
    expected, identity, _ = replay_resolved(
        [validate_event(orjson.loads(r)) for r in traffic()], engine(), config, until
    )
    assert identity.merges, "the traffic must merge identities for this test to mean anything"
    out = stream(tmp_path, config, until)
    assert (out / "actions").read_bytes() == dump_lines(expected.actions)
    assert (out / "decisions").read_bytes() == dump_lines(expected.decisions)
    assert (out / "outcomes").read_bytes() == dump_lines(expected.outcomes)


def test_until_before_the_last_event_is_refused(tmp_path: Path) -> None:
    events = sort_events([("x", r) for r in traffic()[:50]], tmp_path, lambda w, y: None)
    assert events.last is not None
    with pytest.raises(ReplayError):
        run(events, engine(), None, tmp_path, Outputs(tmp_path / "a"), events.last - 1)


def test_the_time_window_keeps_events_from_since_to_before(tmp_path: Path) -> None:
    raws = [("x", r) for r in traffic()]
    times = sorted(validate_event(orjson.loads(r))["ts"] for _, r in raws)
    since, before = times[100], times[200]
    kept = sort_events(raws, tmp_path, lambda w, y: None, since, before)
    assert [orjson.loads(p)["ts"] for p in kept.events.payloads()] == [
        t for t in times if since <= t < before
    ]
    assert kept.outside == len(times) - kept.events.count


def test_unusable_records_are_named_and_skipped(tmp_path: Path) -> None:
    skipped: list[tuple[str, str]] = []
    raws = [("f:1", b"{not json"), ("f:2", b'{"type": "X"}'), ("f:3", traffic()[0])]
    kept = sort_events(raws, tmp_path, lambda where, why: skipped.append((where, why)))
    assert kept.events.count == 1 and kept.skipped == 2
    assert [w for w, _ in skipped] == ["f:1", "f:2"]
    assert skipped[0][1].startswith("bad JSON")


records = st.lists(
    st.tuples(st.integers(0, 50), st.text(max_size=3), st.binary(min_size=1, max_size=30)),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_the_external_sort_gives_sorted_order_whatever_the_budget(
    tmp_path_factory: Any, items: list[tuple[int, str, bytes]]
) -> None:
    folder = tmp_path_factory.mktemp("runs")
    # payloads are JSON in use; any bytes without a newline stand for them here
    items = [(t, k, p.replace(b"\n", b" ")) for t, k, p in items]
    sorter = ExternalSorter(folder, "x", budget_bytes=500)
    for item in items:
        sorter.add(item)
    assert list(sorter) == sorted(items)
    assert list(sorter) == sorted(items), "a second pass gives the same"


def test_offsets_read_as_partition_ranges() -> None:
    assert parse_offsets("0:100-200, 1:50-,2:-10") == {0: (100, 200), 1: (50, None), 2: (None, 10)}
    for bad in ("0:100", "x:1-2", "0:5-1", "-1:0-1", ""):
        with pytest.raises(SourceError, match="--offsets"):
            parse_offsets(bad)
