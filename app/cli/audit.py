"""``segue audit``: what ran (deploy records) and what was decided about a customer."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import load_settings


@app.command("audit")
def audit_command(
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="A customer's trail: consent changes and every journey decision about them "
            "(a customer id, an anonymous id or kind:value).",
        ),
    ] = None,
    journey: Annotated[
        str | None,
        typer.Option("--journey", help="A journey's trail: which versions ran where, from when."),
    ] = None,
    erasure: Annotated[
        str | None,
        typer.Option("--erasure", help="An erasure request's receipts, one per store."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of text.")] = False,
) -> None:
    """Print a customer's or a journey's audit trail (without either: every deploy record)."""
    from app.cli.profile import lookup
    from app.privacy.audit import customer_trail, deploys, erasure_receipts
    from app.privacy.export import records_of
    from app.topics.specs import TopicNames

    if sum(x is not None for x in (customer, journey, erasure)) > 1:
        typer.echo("give one of --customer, --journey, --erasure", err=True)
        raise typer.Exit(2)
    settings = load_settings()
    need_broker(settings)
    out = sys.stdout
    try:
        if erasure is not None:
            receipts = list(erasure_receipts(settings, erasure))
            for r in receipts:
                if as_json:
                    out.write(orjson.dumps(r).decode() + "\n")
                else:
                    done = {
                        k: v for k, v in r.items() if k not in ("kind", "request_id", "store", "at")
                    }
                    out.write(f"{r['at']}  {r['store']}: done {orjson.dumps(done).decode()}\n")
            if not receipts:
                typer.echo(f"no receipt yet for erasure {erasure!r}", err=True)
                raise typer.Exit(1)
            return
        if customer is not None:
            found = lookup(settings, customer)
            if found is None:
                typer.echo(f"no profile for {customer!r}", err=True)
                raise typer.Exit(1)
            key, record = found
            outcomes = records_of(settings, TopicNames(settings).outcomes, key)
            for at, line in customer_trail(record["profile"], outcomes):
                if as_json:
                    out.write(orjson.dumps({"at": at, "customer_id": key, "what": line}).decode())
                    out.write("\n")
                else:
                    out.write(f"{at}  {line}\n")
            return
        shown = 0
        for record in deploys(settings):
            if journey is not None and journey not in record["journeys"]:
                continue
            shown += 1
            if as_json:
                out.write(orjson.dumps(record).decode() + "\n")
                continue
            served = (
                record["journeys"] if journey is None else {journey: record["journeys"][journey]}
            )
            versions = ", ".join(f"{j} v{'/'.join(map(str, vs))}" for j, vs in served.items())
            policies = record["policies"]
            policy = f"{policies['file']} sha256 {policies['sha256'][:12]}" if policies else "none"
            out.write(
                f"{record['at']}  worker {record['worker_id']} on {record['host']} (pid "
                f"{record['pid']}) serves {versions or 'no journeys'}; policies {policy}; "
                f"models {record['models']}\n"
            )
            for f in record["files"]:
                out.write(f"    {f['file']} sha256 {f['sha256']}\n")
        if journey is not None and not shown:
            typer.echo(f"no deploy record serves journey {journey!r}", err=True)
            raise typer.Exit(1)
    except KafkaException as exc:
        typer.echo(
            f"audit: cannot read the topics at {settings.bootstrap_servers}: {exc}", err=True
        )
        raise typer.Exit(2) from None
