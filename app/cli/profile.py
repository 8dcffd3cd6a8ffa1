"""``segue profile get ID``: a customer's unified profile, read from the table's changelog."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer

from app.cli import app
from app.core.timeutil import format_ms
from app.kafka_io import partition_for, read_partitions
from app.settings import Settings, load_settings
from app.topics.specs import TopicNames

profile_app = typer.Typer(help="Inspect unified customer profiles.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


def fetch_profile(settings: Settings, customer_id: str) -> dict[str, Any] | None:
    """The latest profile of ``customer_id`` in the changelog (None if it has none).

    The changelog is compacted and partitioned like the customer-keyed stream, so only the
    key's partition is read; this works with or without a running worker."""
    names = TopicNames(settings)
    partition = partition_for(customer_id.encode(), settings.partitions)
    wanted = orjson.dumps(customer_id)  # faust's JSON key serializer
    latest: dict[str, Any] | None = None
    for msg in read_partitions(settings, names.profiles_changelog, [partition]):
        if msg.key() == wanted:
            value = msg.value()
            latest = orjson.loads(value)["profile"] if value else None
    return latest


def for_humans(profile: dict[str, Any]) -> dict[str, Any]:
    shown = dict(profile)
    for field in ("first_seen", "last_seen"):
        if isinstance(shown.get(field), int):
            shown[field] = format_ms(shown[field])
    return shown


@profile_app.command("get")
def get(customer_id: str = typer.Argument(..., help="The customer (or anonymous) id.")) -> None:
    """Print a customer's unified profile as JSON; exit 1 if there is none."""
    profile = fetch_profile(load_settings(), customer_id)
    if profile is None:
        typer.echo(f"no profile for {customer_id!r}", err=True)
        raise typer.Exit(1)
    sys.stdout.buffer.write(orjson.dumps(for_humans(profile), option=orjson.OPT_INDENT_2) + b"\n")
