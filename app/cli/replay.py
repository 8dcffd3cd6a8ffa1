"""``segue replay``: run an event file through the journey engine (backtests).

Exit codes: 0 all lines replayed; 1 some lines were malformed (reported on stderr with their
line numbers, skipped, the rest replayed and written); 2 the journeys, the policies or the
arguments are invalid (including a --models folder whose artifacts do not load), or a file
cannot be read or written.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated

import typer

from app.cli import app
from app.core.identity_replay import replay_resolved
from app.core.journeys.compiled import CompileError
from app.core.journeys.definitions import load_journeys, load_policies
from app.core.journeys.engine import Engine
from app.core.journeys.problems import DefinitionError, DefinitionProblem
from app.core.journeys.replay import (
    Event,
    ReplayError,
    ReplayResult,
    Skipped,
    dump_lines,
    parse_events,
    replay,
)
from app.core.scoring import Scorer
from app.core.timeutil import TimeFormatError, parse_rfc3339
from app.models.artifact import ArtifactError
from app.models.scorer import load_scorer
from app.settings import Settings, load_settings

#: inputs larger than this get progress lines on stderr
PROGRESS_BYTES = 8 * 1024 * 1024

EXIT_SKIPPED = 1
EXIT_INVALID = 2


def fail(message: str) -> typer.Exit:
    """One line on stderr and the exit code of bad input (2)."""
    typer.echo(message, err=True)
    return typer.Exit(EXIT_INVALID)


def _progress(done: int, total: int) -> None:
    typer.echo(f"replay: {done:,}/{total:,} events ({100 * done // max(total, 1)}%)", err=True)


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
    return engine


def read_events(events: Path) -> tuple[list[Event], list[Skipped], bool]:
    """The file's valid events, its skipped lines (reported on stderr) and whether it is large
    enough for progress lines."""
    try:
        size = events.stat().st_size
        with events.open("rb") as lines:
            large = size >= PROGRESS_BYTES
            if large:
                typer.echo(f"replay: reading {events} ({size / 1e6:.0f} MB)", err=True)
            # Millions of small dicts that all live to the end: the cyclic GC would only rescan
            # them again and again (~30% of a 1M-event replay), and they hold no cycles.
            gc.disable()
            try:
                parsed, skipped = parse_events(lines)
            finally:
                gc.enable()
    except OSError as exc:
        raise fail(f"--events: cannot read {events}: {exc}") from None
    for s in skipped:
        typer.echo(f"{events}:{s.line}: skipped: {s.reason}", err=True)
    return parsed, skipped, large


def run_replay(
    parsed: list[Event],
    engine: Engine,
    settings: Settings,
    until: str | None,
    identity: bool,
    large: bool,
) -> ReplayResult:
    """Replay the events (exit 2 on a bad --until), resolving identities as live unless
    ``identity`` is off; ``result.merges``/``conflicts`` count what identity did."""
    until_ms = None
    if until is not None:
        try:
            until_ms = parse_rfc3339(until)
        except TimeFormatError as exc:
            raise fail(f"--until: {exc}") from None
    gc.disable()
    try:
        report = _progress if large else None
        if identity:
            result, resolved, _ = replay_resolved(
                parsed, engine, settings.identity_config, until_ms, report
            )
            result.merges, result.conflicts = len(resolved.merges), len(resolved.conflicts)
            return result
        return replay(parsed, engine, until_ms, progress=report)
    except ReplayError as exc:
        raise fail(f"--until: {exc}") from None
    finally:
        gc.enable()


@app.command("replay")
def replay_command(
    events: Annotated[Path, typer.Option("--events", help="Event envelopes, one JSON a line.")],
    journeys: Annotated[Path, typer.Option("--journeys", help="Folder of journey YAML files.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the emitted actions.")],
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
    models: Annotated[
        Path | None,
        typer.Option("--models", help="Model artifacts folder; without it every score is 0.0."),
    ] = None,
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
    """Replay EVENTS through the journeys and write the actions they would have emitted."""
    try:
        scorer = load_scorer(models)
    except ArtifactError as exc:
        raise fail(f"--models: {exc}") from None
    settings = load_settings()
    engine = load_engine(journeys, policies, scorer, settings)
    parsed, skipped, large = read_events(events)
    result = run_replay(parsed, engine, settings, until, identity, large)
    try:
        out.write_bytes(dump_lines(result.actions))
        if decisions is not None:
            decisions.write_bytes(dump_lines(result.decisions))
        if outcomes is not None:
            outcomes.write_bytes(dump_lines(result.outcomes))
    except OSError as exc:
        raise fail(f"cannot write the output: {exc}") from None
    failed = sum(result.failures.values())
    summary = (
        f"replay: {result.events} events, {result.customers} customers, "
        f"{len(result.actions)} actions, {len(result.decisions)} decisions, "
        f"{len(skipped)} skipped lines, {result.duplicates} duplicates dropped"
    )
    if failed:
        summary += f", {failed} failed expression evaluations"
    if identity:
        summary += f", {result.merges} identity merges, {result.conflicts} identity conflicts"
    if outcomes is not None:
        summary += f", {len(result.outcomes)} outcome records"
    typer.echo(summary, err=True)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)
