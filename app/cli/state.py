"""``segue state show|reset``: the local state of the worker and the sinks, and which broker it
belongs to (app/incarnation.py: a start refuses a folder of another broker or topic incarnation
and names ``segue state reset``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.cli import app
from app.settings import Settings, load_settings

if TYPE_CHECKING:
    from app.incarnation import Incarnation

state_app = typer.Typer(
    help="The worker's and the sinks' local state: which broker it belongs to; clear it.",
    no_args_is_help=True,
)
app.add_typer(state_app, name="state")

#: how long ``show`` waits for the broker it compares the folders with
SHOW_TIMEOUT_S = 5.0


@state_app.command("reset")
def reset(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before removing."),
) -> None:
    """Remove the worker's and the sinks' local state together (never the embedded broker's
    data): for state that belongs to another broker. Refused while one of them runs."""
    from app.incarnation import StateBusy, reset, state_folders, user_of

    settings = load_settings()
    folders = state_folders(settings)
    if not folders:
        typer.echo(
            f"nothing to reset: no worker or sink state of {_deployment(settings)} in "
            f"{settings.state_dir}"
        )
        return
    for folder in folders:
        user = user_of(folder.path)
        if user is not None:
            typer.echo(
                f"segue state reset: {user} is running on {folder.path}: stop it first "
                "(nothing removed)",
                err=True,
            )
            raise typer.Exit(1)
    if not yes:
        typer.echo(
            f"the worker's and the sinks' state of {_deployment(settings)} (the broker's own "
            "data is not touched):"
        )
        for folder in folders:
            typer.echo(f"  {folder.path}  ({folder.label})")
        typer.confirm("remove it?", abort=True)
    try:
        removed = reset(folders)
    except StateBusy as exc:
        typer.echo(f"segue state reset: {exc} (nothing more removed)", err=True)
        raise typer.Exit(1) from None
    for folder in removed:
        typer.echo(f"removed {folder.path} ({folder.label})")
    typer.echo(
        "the next start of each records the broker it runs against: the worker rebuilds its "
        "stores from the changelogs, the sinks begin with empty dedupe stores"
    )


@state_app.command("show")
def show() -> None:
    """Each state folder of this deployment: the broker (cluster id) and topics it belongs to,
    who runs on it, and whether it matches the configured broker."""
    from app.incarnation import incarnation_of, read_record, state_folders, user_of

    settings = load_settings()
    folders = state_folders(settings)
    if not folders:
        typer.echo(f"no worker or sink state of {_deployment(settings)} in {settings.state_dir}")
        return
    for folder in folders:
        record = read_record(folder.path)
        user = user_of(folder.path)
        typer.echo(f"{folder.path}  ({folder.label}{', running: ' + user if user else ''})")
        if record is None:
            typer.echo("  no record of its broker yet (recorded at its next start)")
            continue
        typer.echo(
            f"  cluster {record.get('cluster_id') or '?'} at {record.get('bootstrap')}, "
            f"recorded {record.get('recorded_at')}, last checked {record.get('checked_at')}"
        )
        for topic, topic_id in sorted((record.get("topics") or {}).items()):
            typer.echo(f"  {topic}  {topic_id or '(no topic id)'}")
        recorded = incarnation_of(record)
        if recorded is not None:
            typer.echo(f"  {_against_broker(settings, recorded)}")


def _against_broker(settings: Settings, recorded: Incarnation) -> str:
    """Whether the record matches the configured broker (ids only: the offsets are checked
    at the start)."""
    from confluent_kafka import KafkaException

    from app.broker.detect import addresses
    from app.broker.process import port_open
    from app.incarnation import BrokerFacts, mismatch

    bootstrap = settings.bootstrap_servers
    if not any(port_open(h, p, 1.0) for h, p in addresses(bootstrap)[:3]):
        return f"not compared: no broker answers at {bootstrap}"
    try:
        now = BrokerFacts(settings, SHOW_TIMEOUT_S).incarnation(recorded.topic_ids)
    except KafkaException as exc:
        return f"not compared: the broker at {bootstrap} did not answer ({exc})"
    found = mismatch(recorded, now, {}, {})
    if found is not None:
        return f"{found}: `segue state reset` clears it"
    gone = sorted(t for t, i in recorded.topic_ids.items() if i and t not in now.topic_ids)
    if gone:
        return (
            f"topic {gone[0]} is not on the broker at {bootstrap} now: created again, it will "
            "be another incarnation, and the next start refuses this state"
        )
    return f"matches the broker at {bootstrap}"


def _deployment(settings: Settings) -> str:
    return f"deployment {settings.topic_prefix}{settings.app_id}"
