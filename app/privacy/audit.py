"""The audit trail: what ran (deploy records on ``segue.audit``), what was decided about a
customer (their consent changes and outcome records) and what each store did with an erasure
request (receipts on ``segue.audit``), read back by ``segue audit``.

Decisions need no record of their own: every send, suppression (with its reason), holdout and
``decide`` (every option's score and the choice, "do nothing" included) is already an outcome
record on ``segue.outcomes`` and, for withheld sends, on ``segue.decisions``. What ran is the one
thing the stream does not say: a worker writes a deploy record when it starts serving, before it
reads any event.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from app.core.journeys.engine import Engine
from app.core.timeutil import format_ms, parse_rfc3339
from app.kafka_io import make_producer, read_partitions
from app.settings import Settings
from app.topics.specs import TopicNames

KEY = b"deploy"
FLUSH_S = 15.0


class AuditError(RuntimeError):
    """The deploy record could not be written (the worker does not serve unrecorded)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _segue_version() -> str | None:
    try:
        return version("segue")
    except PackageNotFoundError:
        return None


def deploy_record(
    engine: Engine,
    journeys_dir: Path,
    policies_file: Path | None,
    worker_id: str,
    now_ms: int,
) -> dict[str, Any]:
    """What a worker serves from now on: journeys and versions, file hashes, policies, models."""
    files = sorted(p for p in journeys_dir.iterdir() if p.suffix in (".yaml", ".yml"))
    return {
        "kind": "deploy",
        "at": format_ms(now_ms),
        "worker_id": worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "segue_version": _segue_version(),
        "journeys": {j: sorted(vs) for j, vs in sorted(engine.versions.items())},
        "files": [{"file": str(p), "sha256": _sha256(p)} for p in files],
        "policies": None
        if policies_file is None
        else {"file": str(policies_file), "sha256": _sha256(policies_file)},
        "models": engine.model_version,
    }


def publish(settings: Settings, record: dict[str, Any]) -> None:
    """Write ``record`` to the audit topic and wait for the broker's acknowledgement."""
    errors: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    producer = make_producer(settings)
    producer.produce(
        TopicNames(settings).audit, key=KEY, value=orjson.dumps(record), on_delivery=delivered
    )
    left = producer.flush(FLUSH_S)
    if left or errors:
        reason = errors[0] if errors else "no acknowledgement"
        raise AuditError(
            f"cannot write the deploy record to {TopicNames(settings).audit}: {reason}"
        )


def _records(settings: Settings, kind: str) -> Iterator[dict[str, Any]]:
    for msg in read_partitions(settings, TopicNames(settings).audit):
        value = msg.value()
        if value:
            record = orjson.loads(value)
            if isinstance(record, dict) and record.get("kind") == kind:
                yield record


def deploys(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every deploy record on the audit topic, oldest first."""
    return _records(settings, "deploy")


def erasure_receipts(settings: Settings, request_id: str) -> Iterator[dict[str, Any]]:
    """The receipts of one erasure request (one per store that carried it out)."""
    return (r for r in _records(settings, "erasure") if r.get("request_id") == request_id)


def customer_trail(
    profile: dict[str, Any], outcomes: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """(time, line) of every consent change and outcome record of a customer, in time order."""
    lines: list[tuple[int, int, str]] = []
    for i, c in enumerate(profile.get("consent_trail") or ()):
        scope = c["channel"] or "every channel"
        if c.get("category"):
            scope += f", {c['category']}"
        what = "granted" if c["granted"] else "withdrawn"
        lines.append((c["at"], i, f"consent {what} ({scope}) by {c['type']} {c['event_id']}"))
    for i, o in enumerate(outcomes):
        lines.append((parse_rfc3339(o["event_time"]), 1_000_000 + i, _outcome_line(o)))
    lines.sort()
    return [(format_ms(at), text) for at, _, text in lines]


def _outcome_line(o: dict[str, Any]) -> str:
    head = f"{o['journey']} v{o['journey_version']} entry {o['entry']}"
    kind = o["kind"]
    if kind in ("sent", "suppressed", "held_out"):
        why = f" ({o['reason']})" if o.get("reason") else ""
        return f"{head}: {kind} {o.get('channel')} {o.get('template')}{why} [{o.get('action_id')}]"
    if kind == "decided":
        options = ", ".join(
            f"{x['id']}={x['score']:.3f}" if x.get("eligible") else f"{x['id']}=ineligible"
            for x in o.get("options") or ()
        )
        choice = o.get("choice") or "do nothing"
        return f"{head}: decided at {o.get('step')}: {choice} (options {options or 'none'})"
    if kind == "entered":
        control = " (control group)" if o.get("control") else ""
        return f"{head}: entered on {o.get('trigger_type')} {o.get('trigger_event_id')}{control}"
    step = f" at {o['step']}" if o.get("step") else ""
    why = f" ({o['reason']})" if o.get("reason") else ""
    return f"{head}: {kind}{step}{why}"
