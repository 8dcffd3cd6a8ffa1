"""``segue journeys validate|graph`` (journey definitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli import app
from app.core.journeys.definitions import (
    check_journey_file,
    check_journeys,
    journey_files,
    load_policies,
)
from app.core.journeys.problems import DefinitionError, DefinitionProblem

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
) -> None:
    """Check every journey file (and the policies): print each problem as FILE: PATH: MESSAGE."""
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
    for problem in problems:
        typer.echo(str(problem))
    # Warnings (unreachable steps, loops without a wait) fail validation too: the spec allows
    # them, so replay and the worker run such journeys, but they are nearly always mistakes.
    if problems:
        bad_files = len({p.file for p in problems})
        typer.echo(
            f"{len(problems)} problem{_s(len(problems))} in {bad_files} file{_s(bad_files)}; "
            f"{len(journeys)} of {files} journey{_s(files)} valid"
        )
        raise typer.Exit(1)
    suffix = " and policies valid" if policies is not None else " valid"
    typer.echo(f"{len(journeys)} journey{_s(len(journeys))}{suffix}")


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
    elif suffix in (".mmd", ".mermaid"):
        out.write_text(mermaid, encoding="utf-8")
    else:
        typer.echo(f"--out {out}: unknown picture type; use .html, .svg or .mmd", err=True)
        raise typer.Exit(2)
    typer.echo(f"wrote {out}", err=True)


def _s(count: int) -> str:
    return "" if count == 1 else "s"
