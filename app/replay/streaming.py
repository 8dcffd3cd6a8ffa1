"""A replay whose memory does not grow with its input: events sorted on disk, states on disk.

1. ``sort_events``: every record of the source is decoded and validated (the ones that are not
   events are reported by place and skipped), those in the time window kept, and sorted by
   (time, event_id, canonical content) on disk: the order ``order_events`` gives in memory.
2. ``run``: the sorted events through ``run_resolved`` (the pure loop the in-memory
   ``replay_resolved`` runs too) with the states and identity rows in ``StoreTable``s; at the
   end every state with entries moves on to the end time; the outputs go through external
   sorts into their files, in the order and bytes ``dump_lines`` gives the in-memory result.

Memory is the caches (states, rows) plus the sorts' budgets plus what the engine holds,
whatever the input's size; the work folder takes about twice the input on disk.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from app.core.envelope import InvalidEvent, validate_event
from app.core.identity import IdentityConfig
from app.core.identity_replay import Pending, advance_all, run_resolved
from app.core.journeys.engine import Engine
from app.core.journeys.outcome import Outcome
from app.core.journeys.replay import ReplayError, time_ms
from app.core.tail_record import unwrap
from app.replay.sorter import ExternalSorter
from app.replay.sources import Raw
from app.replay.tables import ROWS_CACHED, STATES_CACHED, StoreTable

#: payload bytes each output's sort holds in memory before it writes a run
OUTPUT_BUDGET = 24 * 1024 * 1024
SORT_KEYS = orjson.OPT_SORT_KEYS

Skip = Callable[[str, str], None]  # (where, why)
Progress = Callable[[str], None]


@dataclass(slots=True)
class SortedEvents:
    events: ExternalSorter
    skipped: int = 0
    #: valid events outside the time window
    outside: int = 0
    last: int | None = None


def sort_events(
    raws: Iterable[Raw],
    folder: Path,
    skip: Skip,
    since: int | None = None,
    before: int | None = None,
    progress: Progress | None = None,
    budget_bytes: int | None = None,
) -> SortedEvents:
    """Decode, validate, select (``since`` <= time < ``before``) and sort the records."""
    sorter = ExternalSorter(folder, "events", *(() if budget_bytes is None else (budget_bytes,)))
    result = SortedEvents(sorter)
    loads, dumps, add = orjson.loads, orjson.dumps, sorter.add
    last = None
    for n, (where, raw) in enumerate(raws, start=1):
        if progress is not None and n % 1_000_000 == 0:
            progress(f"read {n:,} records")
        try:
            event = validate_event(unwrap(loads(raw)))
        except orjson.JSONDecodeError as exc:
            result.skipped += 1
            skip(where, f"bad JSON: {exc}")
            continue
        except InvalidEvent as exc:
            result.skipped += 1
            skip(where, exc.reason)
            continue
        ts = event["ts"]
        if (since is not None and ts < since) or (before is not None and ts >= before):
            result.outside += 1
            continue
        if last is None or ts > last:
            last = ts
        add((ts, event["event_id"], dumps(event, option=SORT_KEYS)))
    result.last = last
    return result


@dataclass(slots=True)
class Outputs:
    """Where each output goes (None: counted, not written)."""

    actions: Path | None
    decisions: Path | None = None
    outcomes: Path | None = None


@dataclass(slots=True)
class StreamResult:
    events: int = 0
    customers: int = 0
    actions: int = 0
    decisions: int = 0
    outcomes: int = 0
    duplicates: int = 0
    merges: int = 0
    conflicts: int = 0
    until: int | None = None
    failures: dict[str, int] = field(default_factory=dict)
    #: timers still waiting after ``until``
    pending: Pending = field(default_factory=Pending)


class _Collector:
    """Every output of the run into its sort (or only its count), tagged with the order it was
    made in: records equal on the output key keep that order, as the in-memory sorts do."""

    def __init__(self, folder: Path, outputs: Outputs, budget: int) -> None:
        def sorter(name: str, path: Path | None) -> ExternalSorter | None:
            return None if path is None else ExternalSorter(folder, name, budget)

        self.actions = sorter("actions", outputs.actions)
        self.decisions = sorter("decisions", outputs.decisions)
        self.outcomes = sorter("outcomes", outputs.outcomes)
        self.counts = {"actions": 0, "decisions": 0, "outcomes": 0}
        self.duplicates = 0
        self._seq = count()

    def keep(self, out: Outcome) -> None:
        self.duplicates += out.duplicates
        counts, seq, dumps = self.counts, self._seq, orjson.dumps
        for name, records, sorter in (
            ("actions", out.actions, self.actions),
            ("decisions", out.decisions, self.decisions),
        ):
            if not records:
                continue
            counts[name] += len(records)
            if sorter is not None:
                for r in records:
                    sorter.add(
                        (
                            time_ms(r["event_time"]),
                            r["customer_id"],
                            r["journey"],
                            r["step"],
                            r["action_id"],
                            next(seq),
                            dumps(r, option=SORT_KEYS),
                        )
                    )
        if out.outcomes:
            counts["outcomes"] += len(out.outcomes)
            if self.outcomes is not None:
                add = self.outcomes.add
                for r in out.outcomes:
                    add(
                        (
                            time_ms(r["event_time"]),
                            r["customer_id"],
                            next(seq),
                            dumps(r, option=SORT_KEYS),
                        )
                    )


def run(
    events: SortedEvents,
    engine: Engine,
    identity: IdentityConfig | None,
    folder: Path,
    outputs: Outputs,
    until: int | None = None,
    progress: Progress | None = None,
    output_budget: int = OUTPUT_BUDGET,
    states_cached: int = STATES_CACHED,
) -> StreamResult:
    """Run the sorted events (identity resolved as live unless ``identity`` is None) and write
    the outputs; raises ReplayError if ``until`` is before the last event."""
    last = events.last
    if until is not None and last is not None and until < last:
        raise ReplayError("--until is earlier than the last event; nothing after it may be cut")
    end = until if until is not None else last
    work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))  # one per run: a backtest has two
    try:
        return _run(
            events, engine, identity, work, outputs, end, progress, output_budget, states_cached
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(
    events: SortedEvents,
    engine: Engine,
    identity: IdentityConfig | None,
    folder: Path,
    outputs: Outputs,
    end: int | None,
    progress: Progress | None,
    output_budget: int,
    states_cached: int,
) -> StreamResult:
    collector = _Collector(folder, outputs, output_budget)
    states = StoreTable(folder / "states", states_cached)
    rows = StoreTable(folder / "identity", ROWS_CACHED)
    total = events.events.count
    result = StreamResult(events=total, until=end)
    step = max(1, total // 20)

    def each(done: int) -> None:
        if progress is not None and done % step == 0:
            progress(f"{done:,}/{total:,} events ({100 * done // max(total, 1)}%)")

    loads = orjson.loads
    # The states in memory are bounded, and they hold no cycles: the cyclic GC's full passes
    # over them are wasted; it still runs, on a long period, for what the engine leaves.
    thresholds = gc.get_threshold()
    gc.set_threshold(200_000, 20, 50)
    try:
        ordered = (loads(payload) for payload in events.events.payloads())
        _, _, result.merges, result.conflicts = run_resolved(
            ordered, engine, identity, states, rows, collector.keep, None, each, end
        )
        if end is not None:
            customers = 0

            def walk() -> Iterable[Any]:
                nonlocal customers
                for state in states.values():
                    customers += 1
                    yield state

            advance_all(engine, walk(), end, collector.keep, result.pending)
            result.customers = customers
    finally:
        gc.set_threshold(*thresholds)
        states.close()
        rows.close()
    if progress is not None:
        progress("writing the outputs")
    for name in ("actions", "decisions", "outcomes"):
        sorter, path = getattr(collector, name), getattr(outputs, name)
        if sorter is not None and path is not None:
            with path.open("wb", buffering=1024 * 1024) as out:
                out.writelines(payload + b"\n" for payload in sorter.payloads())
    result.actions = collector.counts["actions"]
    result.decisions = collector.counts["decisions"]
    result.outcomes = collector.counts["outcomes"]
    result.duplicates = collector.duplicates
    result.failures = dict(engine.failures)
    return result
