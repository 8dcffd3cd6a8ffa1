"""``segue backtest``: two sets of journeys (or policies) replayed on the same events, joined.

Exit codes as replay's: 0 done; 1 some event lines were malformed (reported, skipped); 2 bad
journeys, policies, models or arguments, or a file that cannot be read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from app.cli import app
from app.cli.inputs import (
    Before,
    EventsFile,
    EventsTopic,
    Models,
    Offsets,
    Since,
    fail,
    need_broker,
    output_folder,
    scorer_for,
)
from app.cli.replay import EXIT_SKIPPED, Input, load_engine, run_streaming
from app.core.journeys.replay import ReplayResult
from app.replay.streaming import Outputs
from app.report.backtest_page import text_summary, write_all
from app.report.diff import backtest_diff
from app.report.tables import build_report
from app.settings import load_settings


def _records(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as lines:
        return [orjson.loads(line) for line in lines]


@app.command("backtest")
def backtest_command(
    journeys: Annotated[Path, typer.Option("--journeys", help="A: the journeys as they are.")],
    against: Annotated[
        Path, typer.Option("--against", help="B: the journeys as they would be (a folder).")
    ],
    events: EventsFile = None,
    topic: EventsTopic = False,
    offsets: Offsets = None,
    since: Since = None,
    before: Before = None,
    policies: Annotated[Path | None, typer.Option("--policies", help="policies.yaml (A).")] = None,
    against_policies: Annotated[
        Path | None,
        typer.Option("--against-policies", help="policies.yaml for B (default: A's)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="RFC 3339 time to move on to at the end (timers fire)."),
    ] = None,
    models: Models = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for backtest.html, backtest.json and CSVs.")
    ] = Path("backtest"),
    identity: Annotated[
        bool,
        typer.Option("--identity/--no-identity", help="Resolve identities as live (default)."),
    ] = True,
) -> None:
    """Replay EVENTS through A (--journeys) and B (--against) and show what B changes: sends
    only in A, only in B, changed (status, channel, template, time), and conversion deltas."""
    output_folder("--out", out)  # before the work, not after it
    settings = load_settings()
    if topic:
        need_broker(settings)  # before the models and journeys load: one line, at once
    scorer = scorer_for(models, journeys, settings)
    engine_a = load_engine(journeys, policies, scorer, settings)
    engine_b = load_engine(against, against_policies or policies, scorer, settings)
    label_a, label_b = str(journeys), str(against)
    if against_policies is not None:
        label_b += f" with {against_policies}"
    results = []
    # The input streams (sorted once, on disk); each side's outputs are then held to be joined.
    with Input(events, topic, offsets, since, before, settings) as source:
        sorted_events = source.read("backtest")
        for side, label, engine in (("a", label_a, engine_a), ("b", label_b, engine_b)):
            if source.verbose:
                typer.echo(f"backtest: replaying {label}", err=True)
            paths = [source.folder / f"{side}-{name}.jsonl" for name in ("a", "d", "o")]
            run_streaming(
                "backtest",
                sorted_events,
                engine,
                settings,
                source.folder,
                Outputs(*paths),
                until,
                identity,
                source.verbose,
            )
            actions, decisions, outcomes = (_records(path) for path in paths)
            results.append(ReplayResult(actions, decisions, outcomes))
    skipped = source.skipped
    a, b = results
    diff = backtest_diff((a.actions, a.decisions, a.outcomes), (b.actions, b.decisions, b.outcomes))
    try:
        written = write_all(
            diff,
            build_report(a.outcomes),
            build_report(b.outcomes),
            label_a,
            label_b,
            out,
        )
    except OSError as exc:
        raise fail(f"--out: cannot write {exc.filename}: {exc.strerror}") from None
    typer.echo(text_summary(diff, label_a, label_b), nl=False)
    typer.echo(f"backtest: wrote {written[0]} and {len(written) - 1} more files in {out}", err=True)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)
