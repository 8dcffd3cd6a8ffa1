"""``segue models retrain``: retrain churn and intent on Segue's own history, keep a candidate
only when it beats the running model on held-out recent data (app/models/retrain.py).

Exit codes: 0 at least one new artifact revision written (a line per model says which were
accepted and which refused); 3 every candidate refused, nothing written; 2 bad input (no such
file, no broker, too few rows or positives to train or judge, artifacts that do not load, bad
options), with one line saying what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from app.cli import app
from app.cli.inputs import EventsFile, EventsTopic, fail, need_broker
from app.models.artifact import ArtifactError
from app.models.history import MODELS, build_history, identity_links, split_by_time
from app.models.retrain import (
    DEFAULT_HOLDOUT,
    DEFAULT_MARGIN,
    RetrainError,
    check_enough,
    evaluate,
    rows_summary,
    write,
)
from app.models.scorer import models_folder
from app.settings import load_settings

EXIT_REFUSED = 3

models_app = typer.Typer(
    help="Model artifacts: retrain churn and intent on Segue's own history.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


def _say(text: str) -> None:
    typer.echo(f"retrain: {text}", err=True)


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@models_app.command("retrain")
def retrain_command(
    events: EventsFile = None,
    topic: EventsTopic = False,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            "--models-dir",
            "--models",
            help="The running artifacts, compared with and written to (default: "
            "SEGUE_MODELS_DIR, else models/ beside --journeys: the folder the worker loads).",
        ),
    ] = None,
    journeys: Annotated[
        Path, typer.Option("--journeys", help="The worker's journeys folder (finds models/).")
    ] = Path("journeys"),
    model: Annotated[
        str, typer.Option("--model", help="churn, intent or all (each judged on its own).")
    ] = "all",
    holdout: Annotated[
        float,
        typer.Option("--holdout", help="Most recent share of the rows (by time) held out."),
    ] = DEFAULT_HOLDOUT,
    margin: Annotated[
        float,
        typer.Option("--margin", help="ROC-AUC the candidate must gain over the running model."),
    ] = DEFAULT_MARGIN,
    horizon_days: Annotated[
        float,
        typer.Option(
            "--churn-days",
            help="Churn = no activity for this many days after a cutoff (after activity in "
            "as many days before it).",
        ),
    ] = 30.0,
    step_days: Annotated[
        float, typer.Option("--step-days", help="Days between churn cutoffs.")
    ] = 7.0,
    folds: Annotated[int, typer.Option("--folds", help="Inner CV folds of the pipeline.")] = 5,
) -> None:
    """Retrain on history (an events file or topic), judge on its most recent rows, write a
    new artifact revision only for a candidate better by --margin (the worker picks it up at
    its next start)."""
    names = MODELS if model == "all" else (model,)
    if model != "all" and model not in MODELS:
        raise fail(f"--model {model}: give churn, intent or all")
    if not 0.0 < holdout < 1.0:
        raise fail(f"--holdout {holdout}: give a share between 0 and 1, e.g. 0.2")
    if horizon_days <= 0 or step_days <= 0:
        raise fail("--churn-days and --step-days must be positive")
    if folds < 2:
        raise fail(f"--folds {folds}: need at least 2")
    if events is not None and not events.is_file():
        raise fail(f"--events {events}: no such file")
    settings = load_settings()
    if topic:
        need_broker(settings)
    folder = models_folder(models_dir if models_dir is not None else settings.models_dir, journeys)
    if folder is None:
        raise fail(
            "no running models to compare with: give --models-dir (a folder with "
            "manifest.json, e.g. models/), or run `make models` first"
        )
    from app.models.artifact import load_models

    try:
        load_models(folder)
    except ArtifactError as exc:
        raise fail(f"--models-dir: {exc}") from None

    from app.cli.replay import Input  # reads a file or the topic, validated and sorted

    with Input(events, topic, None, None, None, settings) as source:
        sorted_events = source.read("retrain")
        payloads = sorted_events.events.payloads
        first_event = next(iter(payloads()), None)
        if first_event is None or sorted_events.last is None:
            raise fail(f"{source.source.describe()}: no valid events to learn from")
        first = orjson.loads(first_event)["ts"]
        links = identity_links(orjson.loads(raw) for raw in payloads())
        _say(f"folding the events ({len(links)} anonymous ids linked to customers)")
        history = build_history(
            (orjson.loads(raw) for raw in payloads()),
            links,
            first,
            sorted_events.last,
            horizon_days,
            step_days,
        )
        described = source.source.describe()
    _say(
        f"{history.events} events, {history.customers} customers, "
        f"{len(history.cutoffs)} churn cutoffs; churn {rows_summary(history.churn)}, "
        f"intent {rows_summary(history.intent)}"
    )
    hints = {
        "churn": "give a longer history (about four --churn-days spans) or a shorter "
        "--churn-days / --step-days",
        "intent": "give a longer history (more web sessions and orders)",
    }
    splits = {}
    for name in names:
        split = split_by_time(history.rows(name), holdout)
        try:
            check_enough(name, split, hints[name])
        except RetrainError as exc:
            raise fail(str(exc)) from None
        splits[name] = split
    source_doc: dict[str, Any] = {
        "file": events.name if events is not None else described,
        "sha256": _file_sha(events) if events is not None else "",
    }
    verdicts = []
    for name in names:
        split = splits[name]
        _say(
            f"{name}: training the candidate on {rows_summary(split.train)} (the pipeline "
            f"of `make models`), judging on {rows_summary(split.test)}"
        )
        try:
            verdicts.append(evaluate(name, split, folder, source_doc, margin, folds))
        except (RetrainError, ArtifactError) as exc:
            raise fail(str(exc)) from None
    write(folder, verdicts)
    for verdict in verdicts:
        typer.echo(verdict.line())
    if not any(v.accepted for v in verdicts):
        raise typer.Exit(EXIT_REFUSED)
    typer.echo(f"models: restart the worker to serve the new revision(s) from {folder}")
