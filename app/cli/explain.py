"""``segue explain ID``: why a customer did (or did not) get a message.

Live (the default) from the worker's state on the broker; with ``--events`` from a replay of an
event file through the journeys given, the engine ``segue replay`` runs. The explanation itself
is pure (app/explain/). Exit codes: 0; 1 no such customer; 2 bad arguments, unreadable files,
invalid definitions, or a broker that cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import Models, broker_reason, fail, need_broker
from app.settings import load_settings


@app.command("explain")
def explain_command(
    identifier: Annotated[
        str,
        typer.Argument(
            help="A customer id, an anonymous id, or kind:value (email_hash:..., device_id:...)."
        ),
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Explain from a replay of these event envelopes (one JSON a line) instead of "
            "the worker's state; needs --journeys.",
        ),
    ] = None,
    journeys: Annotated[
        Path | None,
        typer.Option(
            "--journeys",
            help="Journey YAML folder: the replay's journeys; live, the definitions to describe "
            "timers with (default: the files the newest deploy record names).",
        ),
    ] = None,
    policies: Annotated[
        Path | None, typer.Option("--policies", help="With --events: policies.yaml.")
    ] = None,
    models: Models = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="With --events: RFC 3339 time to move on to at the end (timers fire)."
        ),
    ] = None,
    identity: Annotated[
        bool,
        typer.Option(
            "--identity/--no-identity",
            help="With --events: resolve identities as the live worker does (as replay).",
        ),
    ] = True,
    journey: Annotated[str | None, typer.Option("--journey", help="Only this journey.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The explanation as JSON.")] = False,
) -> None:
    """Explain a customer's journeys: each entry (when, on which event), variant and control
    group, the current step or how it ended, pending timers, and every decision (sent,
    suppressed with its reason, held out, decided, timed out, goal, exited) with the events
    behind it; first one answer line per send."""
    from app.cli.explain_sources import live_customer, replay_customer
    from app.explain.assemble import explain
    from app.explain.render import render

    settings = load_settings()
    if events is None:
        if any(x is not None for x in (policies, models, until)):
            raise fail("--policies, --models and --until go with --events (a replay)")
        need_broker(settings)  # one line at once when no broker answers, not a minute's wait
        try:
            customer = live_customer(settings, identifier, journeys)
        except KafkaException as exc:
            raise fail(f"explain: cannot read the topics: {broker_reason(exc)}") from None
    else:
        if journeys is None:
            raise fail("--events needs --journeys (the journeys to replay them through)")
        customer = replay_customer(
            settings, identifier, events, journeys, policies, models, until, identity
        )
    if customer is None:
        typer.echo(f"no customer for {identifier!r}", err=True)
        raise typer.Exit(1)
    document = explain(customer, journey)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render(document))
