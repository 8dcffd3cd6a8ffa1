"""``segue replay``: run events (a file, or the events topic) through the journey engine.

The input streams (app/replay/): sorted on disk, states on disk behind a bounded cache, so the
memory does not grow with the input. Exit codes: 0 all records replayed; 1 some records were
malformed (reported on stderr with their line numbers or offsets, skipped, the rest replayed and
written); 2 the journeys, the policies or the arguments are invalid (including a --models folder
whose artifacts do not load), a file cannot be read or written, or the broker cannot be read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import (
    Before,
    EventsFile,
    EventsTopic,
    Models,
    Offsets,
    Since,
    broker_reason,
    fail,
    need_broker,
    output_file,
    scorer_for,
    time_argument,
)
from app.core.identity_replay import Pending
from app.core.journeys.bandit import Books
from app.core.journeys.compiled import CompileError
from app.core.journeys.definitions import load_journeys, load_policies
from app.core.journeys.engine import Engine
from app.core.journeys.problems import DefinitionError, DefinitionProblem
from app.core.journeys.replay import ReplayError
from app.core.scoring import Scorer
from app.core.timeutil import format_ms
from app.replay.sources import FileSource, Source, SourceError, TopicSource, parse_offsets
from app.replay.streaming import Outputs, SortedEvents, StreamResult, run, sort_events
from app.settings import Settings, load_settings

#: inputs larger than this get progress lines on stderr
PROGRESS_BYTES = 8 * 1024 * 1024

#: skipped records named one by one on stderr; beyond, only counted
SHOWN_SKIPS = 20
EXIT_SKIPPED = 1


def load_engine(
    journeys: Path, policies: Path | None, scorer: Scorer, settings: Settings
) -> Engine:
    """The engine replay runs, from the journey folder and the policies (exit 2 if invalid);
    the settings the worker reads too give the duplicate rule, so that a backtest drops the
    copies live would drop."""
    warnings: list[DefinitionProblem] = []
    try:
        engine = Engine(
            load_journeys(journeys, warnings),
            load_policies(policies),
            scorer,
            duplicates=settings.duplicates,
        )
    except DefinitionError as exc:
        raise fail(f"invalid definitions:\n{exc}") from None
    except CompileError as exc:
        raise fail(f"invalid definitions: {exc}") from None
    for warning in warnings:  # allowed by the spec: the journeys run, the author is told
        typer.echo(str(warning), err=True)
    # adaptive steps learn per partition live: the same count makes the same choices
    engine.arms = Books(settings.partitions)
    return engine


class Input:
    """The events a replay or backtest reads, sorted once (in a work folder it deletes)."""

    def __init__(
        self,
        events: Path | None,
        topic: bool,
        offsets: str | None,
        since: str | None,
        before: str | None,
        settings: Settings,
    ) -> None:
        if (events is None) == (not topic):
            raise fail("give the events: --events FILE or --topic (the deployment's events topic)")
        if offsets is not None and not topic:
            raise fail("--offsets reads the events topic: add --topic")
        try:
            ranges = parse_offsets(offsets) if offsets is not None else None
        except SourceError as exc:
            raise fail(str(exc)) from None
        self.source: Source = (
            FileSource(events) if events is not None else TopicSource(settings, ranges)
        )
        self.since, self.before = time_argument("--since", since), time_argument("--before", before)
        self.skipped = 0
        self._work = tempfile.TemporaryDirectory(prefix="segue-replay-")
        self.folder = Path(self._work.name)

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *_: object) -> None:
        self._work.cleanup()

    def _skip(self, where: str, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= SHOWN_SKIPS:
            typer.echo(f"{where}: skipped: {reason}", err=True)

    def read(self, command: str) -> SortedEvents:
        """Every record read, validated, selected and sorted (exit 2 if it cannot be read)."""
        source = self.source
        try:
            size = source.size()
        except OSError as exc:
            raise fail(f"--events: cannot read {source.describe()}: {exc.strerror}") from None
        verbose = size is None or size >= PROGRESS_BYTES
        if verbose:
            shown = f" ({size / 1e6:.0f} MB)" if size is not None else ""
            typer.echo(f"{command}: reading {source.describe()}{shown}", err=True)
        try:
            sorted_events = sort_events(
                source,
                self.folder,
                self._skip,
                self.since,
                self.before,
                (lambda text: typer.echo(f"{command}: {text}", err=True)) if verbose else None,
            )
        except OSError as exc:
            raise fail(f"--events: cannot read {source.describe()}: {exc.strerror}") from None
        except KafkaException as exc:
            raise fail(
                f"{command}: cannot read {source.describe()}: {broker_reason(exc)}"
            ) from None
        if self.skipped > SHOWN_SKIPS:
            typer.echo(f"{command}: {self.skipped - SHOWN_SKIPS} more skipped records", err=True)
        self.verbose = verbose
        return sorted_events


def pending_timers_line(pending: Pending, end: int | None, at_last_event: bool) -> str:
    """What still waits on time at the end of a replay, and how to let it fire: a live worker
    fires timers by the wall clock, a replay only up to its end time."""
    when = format_ms(end) if end is not None else "the end"
    why = " (the last event's time)" if at_last_event else ""
    first, last = format_ms(pending.first or 0), format_ms(pending.last or 0)
    span = first if first == last else f"{first} to {last}"
    return (
        f"replay: {pending.timers} timers still pending at {when}{why}, due {span}; "
        f"run with --until {last} (or later) to fire them, as a live worker would by then"
    )


def run_streaming(
    command: str,
    sorted_events: SortedEvents,
    engine: Engine,
    settings: Settings,
    folder: Path,
    outputs: Outputs,
    until: str | None,
    identity: bool,
    verbose: bool,
) -> StreamResult:
    """Replay the sorted events into ``outputs`` (exit 2 on a bad --until or an unwritable
    output)."""
    until_ms = time_argument("--until", until)
    try:
        return run(
            sorted_events,
            engine,
            settings.identity_config if identity else None,
            folder,
            outputs,
            until_ms,
            (lambda text: typer.echo(f"{command}: {text}", err=True)) if verbose else None,
        )
    except ReplayError as exc:
        raise fail(f"--until: {exc}") from None
    except OSError as exc:
        raise fail(f"cannot write the output: {exc}") from None


@app.command("replay")
def replay_command(
    journeys: Annotated[Path, typer.Option("--journeys", help="Folder of journey YAML files.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the emitted actions.")],
    events: EventsFile = None,
    topic: EventsTopic = False,
    offsets: Offsets = None,
    since: Since = None,
    before: Before = None,
    policies: Annotated[Path | None, typer.Option("--policies", help="policies.yaml.")] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="RFC 3339 time to move on to at the end (timers fire)."),
    ] = None,
    decisions: Annotated[
        Path | None,
        typer.Option("--decisions", help="Also write suppressed and held-out sends."),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help=(
                "Also write the outcome records (entries, steps, sends, goals, exits, ...), "
                "the input of `segue report`."
            ),
        ),
    ] = None,
    models: Models = None,
    identity: Annotated[
        bool,
        typer.Option(
            "--identity/--no-identity",
            help=(
                "Resolve identities as the live worker does (SEGUE_IDENTITY_PRIORITY): linked "
                "anonymous visitors merge into their customer. --no-identity keeps every event "
                "under its own key."
            ),
        ),
    ] = True,
) -> None:
    """Replay events through the journeys and write the actions they would have emitted.

    Any input size: the events are sorted in a work folder under $TMPDIR (about twice the
    input's size) and the customers' states kept on disk behind a bounded cache."""
    for option, path in (("--out", out), ("--decisions", decisions), ("--outcomes", outcomes)):
        output_file(option, path)  # before the work, not after it
    settings = load_settings()
    if topic:
        need_broker(settings)  # before the models and journeys load: one line, at once
    scorer = scorer_for(models, journeys, settings)
    engine = load_engine(journeys, policies, scorer, settings)
    with Input(events, topic, offsets, since, before, settings) as source:
        sorted_events = source.read("replay")
        result = run_streaming(
            "replay",
            sorted_events,
            engine,
            settings,
            source.folder,
            Outputs(out, decisions, outcomes),
            until,
            identity,
            source.verbose,
        )
    failed = sum(result.failures.values())
    summary = (
        f"replay: {result.events} events, {result.customers} customers, "
        f"{result.actions} actions, {result.decisions} decisions, "
        f"{source.skipped} skipped lines, {result.duplicates} duplicates dropped"
    )
    if sorted_events.outside:
        summary += f", {sorted_events.outside} events outside --since/--before"
    if failed:
        summary += f", {failed} failed expression evaluations"
    if identity:
        summary += f", {result.merges} identity merges, {result.conflicts} identity conflicts"
    if outcomes is not None:
        summary += f", {result.outcomes} outcome records"
    typer.echo(summary, err=True)
    if result.pending.timers:
        typer.echo(pending_timers_line(result.pending, result.until, until is None), err=True)
    if source.skipped:
        raise typer.Exit(EXIT_SKIPPED)
