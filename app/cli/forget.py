"""``segue forget ID``: erase a customer (GDPR art. 17), in stream order (docs/privacy.md)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import load_settings


@app.command("forget")
def forget_command(
    identifier: Annotated[
        str,
        typer.Argument(help="A customer id, an anonymous id, or kind:value (email_hash:...)."),
    ],
) -> None:
    """Publish an erasure request for the customer ID resolves to. The worker carries it out
    where it falls in the customer's stream: profile, journey state, timers, identity links and
    merged anonymous ids are deleted (tombstones in their changelogs), the sinks forget the
    customer's actions, and each store writes a receipt to segue.audit (`segue audit
    --erasure REQUEST_ID`). Later events for the customer start a fresh profile."""
    from app.cli.profile import lookup
    from app.core.erasure import ERASURE
    from app.core.timeutil import format_ms
    from app.kafka_io import make_producer
    from app.topics.specs import TopicNames

    settings = load_settings()
    need_broker(settings)
    try:
        found = lookup(settings, identifier)
    except KafkaException as exc:
        typer.echo(
            f"forget: cannot read the topics at {settings.bootstrap_servers}: {exc}", err=True
        )
        raise typer.Exit(2) from None
    if found is not None:
        customer = found[0]
    elif ":" in identifier:
        typer.echo(f"forget: nothing is held for {identifier!r} (no profile, no link)", err=True)
        raise typer.Exit(1)
    else:  # a plain id with no profile on the changelog yet: erase whatever the worker has
        customer = identifier
    request_id = uuid.uuid4().hex
    request = {
        "event_id": f"erasure-{request_id}",
        "type": ERASURE,
        "customer_id": customer,
        "timestamp": format_ms(int(time.time() * 1000)),
        "properties": {"request_id": request_id},
    }
    errors: list[object] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer = make_producer(settings)
    producer.produce(
        TopicNames(settings).events,
        key=customer.encode(),
        value=orjson.dumps(request),
        on_delivery=delivered,
    )
    if producer.flush(15) or errors:
        reason = errors[0] if errors else "no acknowledgement"
        typer.echo(f"forget: the request was not published: {reason}", err=True)
        raise typer.Exit(2)
    if customer != identifier:
        typer.echo(f"{identifier} resolves to {customer}", err=True)
    typer.echo(request_id)
    typer.echo(
        f"forget: erasure of {customer!r} requested ({request_id}); "
        f"`segue audit --erasure {request_id}` shows each store's receipt",
        err=True,
    )
