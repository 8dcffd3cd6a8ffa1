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
from app.core.journeys.replay import ReplayError, dump_lines, parse_events, replay
from app.core.timeutil import TimeFormatError, parse_rfc3339
from app.models.artifact import ArtifactError
from app.models.scorer import load_scorer
from app.settings import load_settings

#: inputs larger than this get progress lines on stderr
PROGRESS_BYTES = 8 * 1024 * 1024

EXIT_SKIPPED = 1
EXIT_INVALID = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_INVALID)


def _progress(done: int, total: int) -> None:
    typer.echo(f"replay: {done:,}/{total:,} events ({100 * done // max(total, 1)}%)", err=True)


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
        raise _fail(f"--models: {exc}") from None
    # the settings the worker reads too: identity, and the duplicate rule (so that a backtest
    # drops the copies live would drop)
    settings = load_settings()
    warnings: list[DefinitionProblem] = []
    try:
        engine = Engine(
            load_journeys(journeys, warnings),
            load_policies(policies),
            scorer,
            duplicates=settings.duplicates,
        )
    except DefinitionError as exc:
        raise _fail(f"invalid definitions:\n{exc}") from None
    except CompileError as exc:
        raise _fail(f"invalid definitions: {exc}") from None
    for warning in warnings:  # allowed by the spec: the journeys run, the author is told
        typer.echo(str(warning), err=True)
    until_ms = None
    if until is not None:
        try:
            until_ms = parse_rfc3339(until)
        except TimeFormatError as exc:
            raise _fail(f"--until: {exc}") from None
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
        raise _fail(f"--events: cannot read {events}: {exc}") from None
    for s in skipped:
        typer.echo(f"{events}:{s.line}: skipped: {s.reason}", err=True)
    gc.disable()
    try:
        report = _progress if large else None
        if identity:
            config = settings.identity_config
            result, resolved, _ = replay_resolved(parsed, engine, config, until_ms, report)
            merges, conflicts = len(resolved.merges), len(resolved.conflicts)
        else:
            result = replay(parsed, engine, until_ms, progress=report)
    except ReplayError as exc:
        raise _fail(f"--until: {exc}") from None
    finally:
        gc.enable()
    try:
        out.write_bytes(dump_lines(result.actions))
        if decisions is not None:
            decisions.write_bytes(dump_lines(result.decisions))
    except OSError as exc:
        raise _fail(f"cannot write the output: {exc}") from None
    failed = sum(result.failures.values())
    summary = (
        f"replay: {result.events} events, {result.customers} customers, "
        f"{len(result.actions)} actions, {len(result.decisions)} decisions, "
        f"{len(skipped)} skipped lines, {result.duplicates} duplicates dropped"
    )
    if failed:
        summary += f", {failed} failed expression evaluations"
    if identity:
        summary += f", {merges} identity merges, {conflicts} identity conflicts"
    typer.echo(summary, err=True)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)
