"""Where ``segue explain`` finds a customer: the worker's state on the broker, or a replay.

Live, the profile export (app/privacy/export.py) already gathers the customer's record (profile,
journey state, linked ids), outcome records, decisions and actions; this adds what an
explanation needs besides: the outcome records of the anonymous visitors merged into the
customer, the customer's events (the input topics, for the events behind decisions), the
worker's timer for the customer (the timers changelog) and the journey definitions the worker
serves (the newest deploy record's files, or ``--journeys``). From a replay, the same run as
``segue replay`` (app/explain/trace.py) over a work folder that is deleted afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from app.cli.inputs import fail, scorer_for, time_argument
from app.cli.profile import latest_value, lookup
from app.cli.replay import Input, load_engine
from app.core.envelope import InvalidEvent, validate_event
from app.core.journeys.definitions import load_journey_file, load_journeys
from app.core.journeys.problems import DefinitionError
from app.explain.assemble import Customer, Definitions, compile_definitions
from app.explain.events import EventIndex
from app.explain.trace import Seen, replayed_customer, trace
from app.privacy.audit import deploys
from app.privacy.export import export_customer, records_of
from app.replay.tables import ROWS_CACHED, STATES_CACHED, StoreTable
from app.settings import Settings
from app.topics.specs import TopicNames


def live_customer(settings: Settings, identifier: str, journeys: Path | None) -> Customer | None:
    """The customer ``identifier`` resolves to, from the worker's state; None if none."""
    found = lookup(settings, identifier)
    if found is None:
        return None
    key, record = found
    doc = export_customer(settings, key, record, identifier)
    names = TopicNames(settings)
    merged = doc["merged_anonymous_ids"]
    outcomes = list(doc["outcomes"])
    for anonymous in merged:  # an anonymous entry's records stay under the visitor's id
        outcomes.extend(records_of(settings, names.outcomes, anonymous))
    events = EventIndex()
    for key_ in (key, *merged):
        for topic in (names.events, names.receipts):
            events.add_events(_valid(records_of(settings, topic, key_)))
    events.add_events(records_of(settings, names.customer_events, key))  # normalised already
    events.add_profile(record["profile"])
    events.add_seen(record.get("journeys"))
    actions = {
        a["action_id"]: a
        for kept in (*doc["actions"].values(), doc["decisions"])
        for a in kept
        if isinstance(a, dict) and "action_id" in a
    }
    due = latest_value(settings, names.timers_changelog, key)
    last_seen = record["profile"].get("last_seen")
    return Customer(
        customer_id=key,
        requested_as=identifier,
        source="live",
        jstate=record.get("journeys"),
        outcomes=outcomes,
        events=events,
        definitions=_served(settings, journeys),
        as_of=last_seen if isinstance(last_seen, int) else None,
        worker_timer=due if isinstance(due, int) else None,
        actions=actions,
    )


def _valid(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The input topics hold envelopes as producers sent them: normalised here for their time;
    what ingest rejected is no event of the customer's."""
    found = []
    for envelope in envelopes:
        try:
            found.append(validate_event(envelope))
        except InvalidEvent:
            continue
    return found


def _served(settings: Settings, journeys: Path | None) -> Definitions:
    """The journey definitions: ``--journeys``, else the files the newest deploy record names
    that are readable here (a worker on another host: none; timers are then shown without
    what they wait for)."""
    if journeys is not None:
        try:
            return compile_definitions(load_journeys(journeys))
        except DefinitionError as exc:
            raise fail(f"--journeys: invalid definitions:\n{exc}") from None
    newest = None
    for record in deploys(settings):
        newest = record
    loaded = []
    for f in (newest or {}).get("files") or ():
        try:
            loaded.append(load_journey_file(f["file"]))
        except (DefinitionError, OSError):
            continue  # changed or gone since: its entries are explained without it
    return compile_definitions(loaded)


def replay_customer(
    settings: Settings,
    identifier: str,
    events: Path,
    journeys: Path,
    policies: Path | None,
    models: str | None,
    until: str | None,
    identity: bool,
) -> Customer | None:
    """The customer ``identifier`` resolves to after replaying ``events``; None if none.
    ``models`` as ``segue replay --models`` takes it (the same default)."""
    engine = load_engine(journeys, policies, scorer_for(models, journeys, settings), settings)
    until_ms = time_argument("--until", until)
    with Input(events, False, None, None, None, settings) as source:
        sorted_events = source.read("explain")
        last = sorted_events.last
        if until_ms is not None and last is not None and until_ms < last:
            raise fail("--until: it is earlier than the last event; nothing after it may be cut")
        end = until_ms if until_ms is not None else last
        kept = source.folder / "records.jsonl"
        states = StoreTable(source.folder / "states", STATES_CACHED)
        rows = StoreTable(source.folder / "identity", ROWS_CACHED)
        try:
            # every customer's records go to disk: the customer's keys are known at the end
            with kept.open("wb") as out:

                def keep(record: dict[str, Any], seen: Seen | None) -> None:
                    out.write(orjson.dumps([record, seen]) + b"\n")

                ordered = (orjson.loads(p) for p in sorted_events.events.payloads())
                identities = settings.identity_config if identity else None
                found = trace(ordered, engine, identities, states, rows, identifier, end, keep)
        finally:
            states.close()
            rows.close()
        if found.key is None:
            return None
        with kept.open("rb") as lines:
            pairs = (orjson.loads(line) for line in lines)
            return replayed_customer(
                found,
                identifier,
                ((record, None if seen is None else tuple(seen)) for record, seen in pairs),
                engine.versions,
                end,
            )
