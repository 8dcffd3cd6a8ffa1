"""``segue profile get ID``: a unified profile, found by any identifier, read from changelogs.

ID may be a customer id, an anonymous id, or an identifier written ``kind:value``
(``email_hash:9f..``, ``device_id:..``, ``phone_hash:..``, ``anonymous_id:..``; an address given
as ``email_hash:ann@example.com`` is hashed as ingest hashes it).
``segue profile export ID`` prints everything held about the customer (app/privacy/export.py). An identifier is looked up in
the identity table's changelog; an anonymous id that was merged leads to its customer (its
record is a tombstone naming the customer). ``profile get`` prints a compact view for people
(app/explain/profile_view.py); with ``--json`` the profile as stored (times as RFC 3339) plus
``linked_identities`` (the identifiers the customer owns) and ``merged_anonymous_ids``.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import broker_reason, fail, need_broker
from app.core.identity import ANONYMOUS
from app.explain.identify import normalise
from app.explain.profile_view import profile_lines
from app.kafka_io import read_partitions
from app.partitioner import partition_for
from app.privacy.export import export_customer, readable_profile
from app.settings import Settings, load_settings
from app.topics.specs import TopicNames

profile_app = typer.Typer(help="Inspect unified customer profiles.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")

#: tombstones followed at most (a merged key names its customer; customers are never merged)
MAX_HOPS = 4


def latest_value(settings: Settings, topic: str, key: str) -> Any | None:
    """The latest value of ``key`` in a compacted changelog (UTF-8 keys), None if absent.

    Changelogs are partitioned like their input, so only the key's partition is read; this
    works with or without a running worker."""
    partition = partition_for(key.encode(), settings.partitions)
    wanted = key.encode()
    latest: Any | None = None
    for msg in read_partitions(settings, topic, [partition]):
        if msg.key() == wanted:
            value = msg.value()
            latest = orjson.loads(value) if value else None
    return latest


def fetch_record(settings: Settings, key: str) -> dict[str, Any] | None:
    """The profiles-table record of ``key``: ``{"profile", ...}`` or a tombstone."""
    return latest_value(settings, TopicNames(settings).profiles_changelog, key)


def owner_of(settings: Settings, identifier: str) -> str | None:
    """The customer owning ``identifier`` (``kind:value``), None if nobody does."""
    row = latest_value(settings, TopicNames(settings).identity_changelog, identifier)
    return row["c"] if row else None


def fetch_profile(settings: Settings, customer_id: str) -> dict[str, Any] | None:
    """The latest profile stored under exactly ``customer_id`` (None if it has none)."""
    record = fetch_record(settings, customer_id)
    return record.get("profile") if record else None


def lookup(settings: Settings, identifier: str) -> tuple[str, dict[str, Any]] | None:
    """(key, record) of the profile ``identifier`` resolves to, None if there is none."""
    # The key the identity core makes of it: email_hash:ann@example.com finds her by hash.
    kind, value, identifier = normalise(identifier)
    if kind:
        key = owner_of(settings, identifier)
        if key is None and kind == ANONYMOUS:
            key = value  # an anonymous visitor nobody claimed: its own profile
        if key is None:
            return None
    else:
        key = identifier
    record = fetch_record(settings, key)
    if record is None and key == identifier:  # maybe an anonymous id linked before its events
        owner = owner_of(settings, f"{ANONYMOUS}:{identifier}")
        if owner is not None:
            key, record = owner, fetch_record(settings, owner)
    for _ in range(MAX_HOPS):
        if record is None or "merged_into" not in record:
            break
        key = record["merged_into"]
        record = fetch_record(settings, key)
    if record is None or "profile" not in record:
        return None
    return key, record


def checked_lookup(
    settings: Settings, identifier: str, command: str
) -> tuple[str, dict[str, Any]] | None:
    """``lookup`` after the broker probe; a topic that cannot be read (no worker has made the
    changelogs yet, the broker went away) ends the command in one line, exit 2."""
    need_broker(settings)
    try:
        return lookup(settings, identifier)
    except KafkaException as exc:
        raise fail(f"{command}: {broker_reason(exc)}") from None


@profile_app.command("get")
def get(
    identifier: str = typer.Argument(
        ...,
        help="A customer id, an anonymous id, or kind:value (email_hash:..., device_id:...).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="The stored profile as JSON (times as RFC 3339), for scripts."
    ),
) -> None:
    """Print the unified profile ID resolves to: who, what they did, consent, linked
    identities and their journeys (``--json``: the stored record); exit 1 if none."""
    found = checked_lookup(load_settings(), identifier, "profile get")
    if found is None:
        typer.echo(f"no profile for {identifier!r}", err=True)
        raise typer.Exit(1)
    key, record = found
    if key != identifier:
        typer.echo(f"{identifier} resolves to {key}", err=True)
    if not as_json:
        typer.echo("\n".join(profile_lines(record)))
        return
    shown = readable_profile(record["profile"])
    shown["linked_identities"] = sorted(record.get("ids") or [])
    shown["merged_anonymous_ids"] = list(record.get("merged") or [])
    sys.stdout.buffer.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2) + b"\n")


@profile_app.command("export")
def export(
    identifier: str = typer.Argument(
        ...,
        help="A customer id, an anonymous id, or kind:value (email_hash:..., device_id:...).",
    ),
) -> None:
    """Print everything Segue holds about the customer ID resolves to, as one JSON document
    (GDPR art. 15 and 20): profile, consent trail, linked identifiers, journey state, outcome
    records, decisions and actions. Exit 1 if there is no such customer."""
    settings = load_settings()
    found = checked_lookup(settings, identifier, "profile export")
    if found is None:
        typer.echo(f"no profile for {identifier!r}", err=True)
        raise typer.Exit(1)
    key, record = found
    if key != identifier:
        typer.echo(f"{identifier} resolves to {key}", err=True)
    try:
        document = export_customer(settings, key, record, identifier)
    except KafkaException as exc:
        raise fail(f"profile export: {broker_reason(exc)}") from None
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
