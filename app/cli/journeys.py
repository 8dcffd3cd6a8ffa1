"""``segue journeys validate|graph`` (journey definitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import app
from app.cli.inputs import fail, output_file
from app.core.journeys.definitions import (
    check_journey_file,
    check_journeys,
    journey_files,
    load_policies,
)
from app.core.journeys.problems import WARNING, DefinitionError, DefinitionProblem, format_path
from app.core.journeys.vocabulary import missing_templates, unknown_event_types

#: what ``graph --out`` writes: a page, a picture, the Mermaid text (no PNG: no renderer)
PICTURE_TYPES = (".html", ".htm", ".svg", ".mmd", ".mermaid")

journeys_app = typer.Typer(help="Validate and draw journey definitions.", no_args_is_help=True)
app.add_typer(journeys_app, name="journeys")


@journeys_app.command("validate")
def validate(
    directory: Annotated[
        Path, typer.Argument(help="Folder of journey files (*.yaml, *.yml), or one file.")
    ],
    policies: Annotated[
        Path | None, typer.Option("--policies", help="Also validate this policies file.")
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="The sinks' templates folder to check template names against "
            "(default: SEGUE_SINK_TEMPLATES_DIR, else the project's templates/).",
        ),
    ] = None,
) -> None:
    """Check every journey file (and the policies): print each problem as FILE: PATH: MESSAGE.

    Errors exit 1 (the worker would refuse the files). Warnings exit 0, as the worker and
    replay run such journeys: unreachable steps, loops without a wait, event types outside the
    documented vocabulary and templates the sinks do not have (with the nearest name)."""
    if directory.is_file():
        journey, problems = check_journey_file(directory)
        journeys = [journey] if journey else []
        files = 1
    else:
        journeys, problems = check_journeys(directory)
        files = len(journey_files(directory)) if directory.is_dir() else 0
        if directory.is_dir() and files == 0:
            problems.append(
                DefinitionProblem(str(directory), "", "no journey files (*.yaml, *.yml) here")
            )
    if policies is not None:
        try:
            load_policies(policies)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    problems.extend(_name_warnings(journeys, templates))
    for problem in problems:
        typer.echo(str(problem))
    # Warnings (unreachable steps, loops without a wait) are shown but pass, as the worker and
    # replay run such journeys (the spec allows them): a CI gate must not refuse what runs.
    errors = [p for p in problems if p.is_error]
    warned = len(problems) - len(errors)
    warnings = f", {warned} warning{_s(warned)}" if warned else ""
    if errors:
        bad_files = len({p.file for p in errors})
        typer.echo(
            f"{len(errors)} error{_s(len(errors))} in {bad_files} file{_s(bad_files)}{warnings}; "
            f"{len(journeys)} of {files} journey{_s(files)} valid"
        )
        raise typer.Exit(1)
    suffix = " and policies valid" if policies is not None else " valid"
    typer.echo(f"{len(journeys)} journey{_s(len(journeys))}{suffix}{warnings}")


def _name_warnings(
    journeys: list[dict[str, Any]], templates: Path | None
) -> list[DefinitionProblem]:
    """Unknown event types and missing templates in the valid journeys (app/core/journeys/
    vocabulary.py), against the templates folder the sinks would render from."""
    from app.sinks.config import load_sink_settings
    from app.sinks.templates import TEMPLATES_DIR

    folder = templates or load_sink_settings().templates_dir or TEMPLATES_DIR
    names = [p.name[: -len(".j2")] for p in folder.glob("*.j2")] if folder.is_dir() else []
    names = [n for n in names if not n.endswith(".subject")]
    found = []
    for journey in journeys:
        for path, message in [
            *unknown_event_types(journey),
            *missing_templates(journey, names, str(folder)),
        ]:
            found.append(
                DefinitionProblem(journey["source"], format_path(path), message, None, WARNING)
            )
    return found


@journeys_app.command("graph")
def graph(
    file: Annotated[Path, typer.Argument(help="One journey file.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write a picture: .html (a page) or .svg; .mmd: Mermaid."),
    ] = None,
) -> None:
    """Print the journey as Mermaid text; with --out, write an offline HTML or SVG picture."""
    from app.pictures.mermaid import to_mermaid
    from app.pictures.model import journey_picture
    from app.pictures.page import to_html
    from app.pictures.svg import to_svg

    # what cannot be written is refused before anything is printed
    if out is not None and out.suffix.lower() not in PICTURE_TYPES:
        raise fail(
            f"--out {out}: cannot write {out.suffix or 'a file without a type'}; "
            f"use {', '.join(PICTURE_TYPES[:-1])} or {PICTURE_TYPES[-1]}"
        )
    output_file("--out", out)
    journey, problems = check_journey_file(file)
    if journey is None:
        for problem in problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    picture = journey_picture(journey)
    mermaid = to_mermaid(picture)
    typer.echo(mermaid, nl=False)
    if out is None:
        return
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        out.write_text(to_html(journey), encoding="utf-8")
    elif suffix == ".svg":
        out.write_text(to_svg(picture), encoding="utf-8")
    else:
        out.write_text(mermaid, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)


def _s(count: int) -> str:
    return "" if count == 1 else "s"
