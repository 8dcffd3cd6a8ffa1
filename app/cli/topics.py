"""``segue topics apply|list``: the declared topics (topics/topics.yaml)."""

from __future__ import annotations

import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import Settings, load_settings
from app.topics.apply import apply_topics
from app.topics.specs import load_specs

topics_app = typer.Typer(
    help="Declared topics: create what is missing, report mismatches.", no_args_is_help=True
)
app.add_typer(topics_app, name="topics")


@topics_app.command("apply")
def apply_cmd() -> None:
    """Create missing topics and report every mismatch (exit 1 if any). Never deletes."""
    settings = load_settings()
    need_broker(settings)
    try:
        report = apply_topics(settings)
    except KafkaException as exc:
        typer.echo(f"error: broker {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(2) from None
    for name in report.created:
        typer.echo(f"created   {name}")
    for name in report.present:
        typer.echo(f"present   {name}")
    for line in report.notes:
        typer.echo(f"note      {line}")
    for line in report.mismatches:
        typer.echo(f"MISMATCH  {line}", err=True)
    typer.echo(
        f"{len(report.created)} created, {len(report.present)} present, "
        f"{len(report.mismatches)} mismatches on {settings.bootstrap_servers}"
    )
    schemas_ok = _apply_schemas(settings)
    if not report.ok or not schemas_ok:
        raise typer.Exit(1)


def _apply_schemas(settings: Settings) -> bool:
    """Register the schema of each topic written in a wire format (avro, json_schema), each
    checked against its subject's compatibility first: a breaking change is reported and
    nothing of it registered. False if one was refused."""
    from app.formats.deployment import load_formats
    from app.formats.registry import IncompatibleSchema, SchemaSetupError

    try:
        formats = load_formats(settings, register=True)
    except IncompatibleSchema as exc:
        typer.echo(f"INCOMPATIBLE {exc}", err=True)
        return False
    except SchemaSetupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for done in formats.registered:
        state = "registered" if done.created else "present  "
        typer.echo(f"{state} schema {done.subject} (id {done.schema_id})")
    return True


@topics_app.command("list")
def list_cmd() -> None:
    """Print the declared topics with their partitions, policy and schemas."""
    for spec in load_specs(load_settings()):
        typer.echo(
            f"{spec.name:36} p={spec.partitions:<3} {spec.cleanup_policy:8} {spec.format:11} "
            f"{spec.value_schema or '-':28} {spec.description}"
        )
