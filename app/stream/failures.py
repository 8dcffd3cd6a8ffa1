"""A record an agent could not handle because of a bug of ours: counted, logged once per kind,
and sent to the DLQ with a reason that says so, so that one record never stops a partition."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from app.core.dlq import dlq_value_and_headers
from app.stream import metrics
from app.stream.sink import Batch, Outlet

log = logging.getLogger("segue.failures")

#: kinds already logged with their traceback (agent and exception type)
_LOGGED: set[str] = set()


def internal_error(agent: str, exc: Exception) -> str:
    """Count and log (the first time per kind) a failure of ours on one record; the DLQ reason."""
    metrics.INTERNAL_ERRORS.labels(agent).inc()
    kind = f"{agent}:{type(exc).__name__}"
    if kind not in _LOGGED:
        _LOGGED.add(kind)
        log.error(
            "internal error in %s: the record goes to the DLQ (logged once per kind)",
            agent,
            exc_info=exc,
        )
    return (
        f"internal error in {agent} ({type(exc).__name__}: {exc}): a bug in Segue, please "
        "report it with this record"
    )


def dead_letter_value(
    sink: Outlet,
    out: Batch,
    dlq: str,
    reason: str,
    value: dict[str, Any],
    key: str,
    where: tuple[str, int, int],
) -> None:
    """Dead-letter a decoded internal record (its JSON is the original kept)."""
    topic, partition, offset = where
    raw = orjson.dumps(value, default=str)
    body, headers = dlq_value_and_headers(reason, raw, topic, partition, offset, None)
    sink.produce(out, dlq, key.encode(), body, headers=headers)
