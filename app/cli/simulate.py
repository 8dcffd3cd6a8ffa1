"""``segue simulate``: write simulated traffic as JSON lines (the generator lives in app.sim).

With ``--arms JOURNEY.yaml`` it runs the closed loop instead (app/sim/arms.py): customers
arrive with the journey's trigger, its adaptive step chooses an arm, each customer converts
with that arm's ``--convert`` probability; the events go out as JSON lines (what ``segue
replay --events`` reads) and a summary, beside the same journey's fixed split, to stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from app.cli import app
from app.cli.inputs import fail, need_broker, output_file
from app.core.timeutil import TimeFormatError, from_datetime, parse_rfc3339
from app.settings import Settings, load_settings
from app.sim import DEFAULT_START, planned_count, simulate

_FLUSH_EVERY = 4096  # records per write: fewer syscalls on big runs
_PROGRESS_EVERY_S = 0.5

#: (parameter, option) of the open-loop generator only, and of the closed loop only
_OPEN_LOOP_ONLY = (
    ("rate", "--rate"),
    ("duration", "--duration"),
    ("customers", "--customers"),
    ("malformed_rate", "--malformed-rate"),
    ("publish_to_broker", "--publish"),
    ("pace", "--pace/--no-pace"),
)
_ARMS_ONLY = (
    ("convert", "--convert"),
    ("step", "--step"),
    ("entries", "--entries"),
    ("per_hour", "--per-hour"),
    ("partitions", "--partitions"),
    ("block", "--block"),
    ("models", "--models"),
    ("plot", "--plot"),
)


def resolve_start(text: str) -> int:
    """``now`` (the wall clock: the CLI is the only place allowed to read it) or RFC 3339."""
    if text == "now":
        return from_datetime(datetime.now(UTC))
    try:
        return parse_rfc3339(text)
    except TimeFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start") from None


def write_jsonl(
    records: object, out: IO[bytes], total: int, progress: IO[str] | None
) -> tuple[int, int]:
    """Write records (dicts as JSON, malformed bytes as they are), one per line.

    Returns (valid, malformed) counts; prints a progress line to ``progress`` if given.
    """
    valid = malformed = 0
    buf: list[bytes] = []
    began = last = time.monotonic()
    for record in records:  # type: ignore[attr-defined]
        if isinstance(record, bytes):
            malformed += 1
            buf.append(record)
        else:
            valid += 1
            buf.append(orjson.dumps(record))
        if len(buf) >= _FLUSH_EVERY:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
            now = time.monotonic()
            if progress is not None and now - last >= _PROGRESS_EVERY_S:
                last = now
                done = valid + malformed
                progress.write(
                    f"\rsimulate: {done:,}/{total:,} records ({100 * done // max(total, 1)}%), "
                    f"{malformed:,} malformed, {done / (now - began):,.0f}/s"
                )
                progress.flush()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    out.flush()
    if progress is not None:
        elapsed = max(time.monotonic() - began, 1e-9)
        progress.write(
            f"\rsimulate: {valid + malformed:,} records ({valid:,} valid, {malformed:,} "
            f"malformed) in {elapsed:.2f} s, {(valid + malformed) / elapsed:,.0f}/s\n"
        )
        progress.flush()
    return valid, malformed


@app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="Events per second of event time (required without --arms)."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds of event time (required without --arms)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same output.")] = 1,
    start: Annotated[
        str,
        typer.Option(
            "--start", help=f"RFC 3339 start of event time, or 'now' (default {DEFAULT_START})."
        ),
    ] = DEFAULT_START,
    customers: Annotated[
        int | None,
        typer.Option(
            "--customers",
            min=1,
            help="Customer pool size (default: about 20 events each, at least 200 x rate).",
        ),
    ] = None,
    malformed_rate: Annotated[
        float,
        typer.Option("--malformed-rate", min=0.0, max=1.0, help="Share of malformed records."),
    ] = 0.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write JSON lines here (default: stdout); with --publish, as well."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    publish_to_broker: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Send to the events topic on the configured broker instead of writing lines "
            "to stdout (with --out, the file is written too), paced at --rate per wall-clock "
            "second (use --no-pace to send at full speed).",
        ),
    ] = False,
    pace: Annotated[bool, typer.Option("--pace/--no-pace", help="Pace --publish.")] = True,
    arms: Annotated[
        Path | None,
        typer.Option(
            "--arms",
            help="Closed loop: a journey file with an adaptive split or decide; its customers "
            "arrive with the trigger and convert (emit the reward event) with their arm's "
            "--convert probability. Writes the events (to --out, else stdout) and prints a "
            "summary beside the same journey without its adaptive block (the fixed split): "
            "the best arm's share per block (see --block) and the regret (expected "
            "conversions lost against always giving the best arm).",
        ),
    ] = None,
    convert: Annotated[
        list[str] | None,
        typer.Option(
            "--convert",
            metavar="ARM=P",
            help="With --arms, repeated: every arm's conversion probability (0 to 1), e.g. "
            "--convert discount=0.04 --convert free_shipping=0.08.",
        ),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option("--step", help="With --arms: the adaptive step (default: the only one)."),
    ] = None,
    entries: Annotated[
        int, typer.Option("--entries", min=1, help="With --arms: customers that arrive.")
    ] = 5000,
    per_hour: Annotated[
        float,
        typer.Option("--per-hour", help="With --arms: arrivals per hour of event time."),
    ] = 100.0,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="With --arms: partitions the learner keeps statistics for, one set each "
            "(default SEGUE_PARTITIONS; replay and the worker must use the same count).",
        ),
    ] = None,
    block: Annotated[
        int | None,
        typer.Option(
            "--block",
            min=1,
            help="With --arms: entries per block of the best arm's share (default entries/10). "
            "'Above 80 % from entry N': N = k x block for the first block k after which every "
            "block gives the best arm more than 80 % of its entries ('not reached' if the last "
            "does not); a trailing partial block is left out.",
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="With --arms: model artifacts for decide's scores, as `segue replay --models` "
            "(default: as replay of the journey's folder would score).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="With --arms: a PNG of the cumulative regret, adaptive and fixed, against "
            "entries, and the best arm's share per block (needs matplotlib, the train extra).",
        ),
    ] = None,
) -> None:
    """Generate realistic synthetic customer traffic as JSON lines (one envelope a line).

    With --arms: the closed loop of an adaptive step with a known best arm instead."""
    if arms is not None:
        refused = [option for name, option in _OPEN_LOOP_ONLY if _given(ctx, name)]
        if refused:
            raise fail(
                f"--arms runs the closed loop: {', '.join(refused)} "
                f"{'is' if len(refused) == 1 else 'are'} for the open-loop generator"
            )
        _simulate_arms(
            arms, convert or [], step, entries, per_hour, seed, start, partitions, block,
            models, out, plot,
        )  # fmt: skip
        return
    given = [option for name, option in _ARMS_ONLY if _given(ctx, name)]
    if given:
        raise fail(f"{', '.join(given)}: only with --arms JOURNEY.yaml (the closed loop)")
    for option, value in (("--rate", rate), ("--duration", duration)):
        if value is None:
            raise fail(
                f"Missing option '{option}' (the generator needs --rate and --duration; "
                "--arms JOURNEY.yaml runs the closed loop)"
            )
    assert rate is not None and duration is not None
    if rate <= 0 or duration < 0:
        raise typer.BadParameter("need --rate > 0 and --duration >= 0")
    start_ms = resolve_start(start)
    output_file("--out", out)
    total = planned_count(rate, duration)
    records = simulate(seed, rate, duration, start_ms, customers, malformed_rate)
    progress = None if quiet else sys.stderr
    if publish_to_broker:
        settings = load_settings()
        need_broker(settings)
        if out is None:
            _publish(settings, records, total, rate if pace else None, progress)
            return
        with out.open("wb") as fh:  # the same records, written as they are sent
            _publish(settings, _written(records, fh), total, rate if pace else None, progress)
        return
    if out is None:
        try:
            write_jsonl(records, sys.stdout.buffer, total, progress)
        except BrokenPipeError:  # e.g. piped into `head`: stop quietly
            sys.stderr.write("\n")
    else:
        with out.open("wb") as fh:
            write_jsonl(records, fh, total, progress)


def _written(records: Iterable[dict[str, Any] | bytes], out: IO[bytes]) -> Iterator[Any]:
    """Each record, after its line is written to ``out`` (as write_jsonl writes it)."""
    for record in records:
        out.write((record if isinstance(record, bytes) else orjson.dumps(record)) + b"\n")
        yield record


def _publish(
    settings: Settings, records: object, total: int, rate: float | None, progress: IO[str] | None
) -> None:
    from app.formats.deployment import load_formats
    from app.formats.registry import SchemaSetupError
    from app.publish import PublishStats, publish
    from app.topics.specs import TopicNames

    topic = TopicNames(settings).events
    try:  # envelopes in the events topic's format (JSON, or Avro with SEGUE_TOPIC_FORMATS)
        encode = load_formats(settings).writer(topic).encode
    except SchemaSetupError as exc:
        raise fail(f"simulate: {exc}") from None

    def report(stats: PublishStats) -> None:
        # sent is what the producer took; delivered what the broker acknowledged, so far
        if progress is not None:
            progress.write(
                f"\rsimulate: {stats.sent:,}/{total:,} sent to {topic}, "
                f"{stats.delivered:,} delivered ({stats.malformed:,} malformed)"
            )
            progress.flush()

    stats = publish(settings, records, topic, rate=rate, on_progress=report, encode=encode)  # type: ignore[arg-type]
    if progress is not None:
        progress.write("\n")
    if stats.errors:
        typer.echo(
            f"error: {stats.sent - stats.delivered:,} of {stats.sent:,} records not delivered: "
            f"{stats.errors[-1]}",
            err=True,
        )
        raise typer.Exit(1)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given (on the command line or by its environment)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _simulate_arms(
    path: Path,
    convert: list[str],
    step: str | None,
    entries: int,
    per_hour: float,
    seed: int,
    start: str,
    partitions: int | None,
    block: int | None,
    models: str | None,
    out: Path | None,
    plot: Path | None,
) -> None:
    """The closed loop of ``--arms`` (see the module docstring); exit 2 with one line on bad
    input, the journey loaded and checked as ``segue replay`` loads a folder's."""
    from app.cli.inputs import scorer_for
    from app.core.journeys.compiled import CompileError
    from app.core.journeys.definitions import check_journey_file
    from app.core.journeys.problems import DefinitionError
    from app.sim.arms import ArmsPlan
    from app.sim.arms_report import (
        ArmsError,
        arms_of,
        compare,
        engine_factory,
        parse_convert,
        pick_step,
        reward_event_of,
    )

    if per_hour <= 0:
        raise fail("--per-hour: need arrivals per hour > 0")
    output_file("--out", out)
    output_file("--plot", plot)
    if plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise fail(
                "--plot needs matplotlib, which is in the train extra: pip install -e '.[train]'"
            ) from None
    if path.is_dir():
        raise fail(f"--arms {path}: is a folder; give the journey's file (JOURNEY.yaml)")
    start_ms = resolve_start(start)
    settings = load_settings()
    journey, problems = check_journey_file(path)
    if journey is None:
        exc = DefinitionError([p for p in problems if p.is_error])
        raise fail(f"invalid definitions:\n{exc}")
    for warning in problems:  # allowed by the spec: the journey runs, the author is told
        typer.echo(str(warning), err=True)
    count = partitions if partitions is not None else settings.partitions

    try:
        chosen = pick_step(journey, step)
        arms = arms_of(journey, chosen)
        if not convert:
            raise ArmsError(
                f"--arms needs --convert ARM=P for every arm of step {chosen}: {', '.join(arms)}"
            )
        rates = parse_convert(convert, arms, chosen)
    except ArmsError as exc:
        raise fail(str(exc)) from None
    scorer = scorer_for(models, path.parent, settings)  # as replay of the folder scores
    # one set of arm statistics per partition, as live: replay needs the same count
    engine_for = engine_factory(count, scorer, settings.duplicates)
    try:
        engine_for(journey)  # compiled once up front: a refused definition is one line
    except CompileError as exc:
        raise fail(f"invalid definitions: {exc}") from None
    plan = ArmsPlan(
        journey=journey,
        step=chosen,
        rates=rates,
        entries=entries,
        per_hour=per_hour,
        seed=seed,
        start_ms=start_ms,
        reward_event=reward_event_of(journey, chosen),
    )
    result = compare(plan, engine_for, block if block is not None else max(1, entries // 10))
    if out is None:
        try:
            write_jsonl(
                result.adaptive.events, sys.stdout.buffer, len(result.adaptive.events), None
            )
        except BrokenPipeError:
            sys.stderr.write("\n")
    else:
        with out.open("wb") as fh:
            write_jsonl(result.adaptive.events, fh, len(result.adaptive.events), None)
    if plot is not None:
        from app.sim.arms_report import plot as draw

        label = ", ".join(f"{arm} {100 * p:.1f} %" for arm, p in rates.items())
        title = f"{journey['id']} / {chosen}: {label} (seed {seed}, {count} partitions)"
        draw(plot, [(label, [result])], title)
    typer.echo(result.summary(), err=True)
