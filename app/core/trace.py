"""W3C trace context (``traceparent``) carried from an input event to its actions and receipts.

A producer that traces puts ``traceparent: 00-<trace id>-<parent span id>-<flags>`` on its event
record. Segue keeps the trace id and the flags and names each record it writes because of that
event as a child span: an action's span id is derived from its ``action_id``, a receipt's from its
``event_id``, so a replay or a retry of the same work gives the same span (no random ids in the
core). A header that is not a valid version-00 traceparent is dropped, as the spec asks of a
participant that cannot parse it (https://www.w3.org/TR/trace-context/#traceparent-header).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

HEADER = "traceparent"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def valid_traceparent(value: str) -> bool:
    match = _TRACEPARENT.match(value)
    return bool(match) and match.group(1) != _ZERO_TRACE and match.group(2) != _ZERO_SPAN  # type: ignore[union-attr]


def child_traceparent(parent: str, span_seed: str) -> str | None:
    """The traceparent of a record written because of the one ``parent`` names: same trace and
    flags, a span id of its own derived from ``span_seed``; None if ``parent`` is not valid."""
    match = _TRACEPARENT.match(parent)
    if match is None:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    span = hashlib.blake2b(span_seed.encode(), digest_size=8).hexdigest()
    if span == _ZERO_SPAN:  # 1 in 2**64
        span = "0" * 15 + "1"
    return f"00-{trace_id}-{span}-{flags}"


def header_text(headers: Any, name: str = HEADER) -> str | None:
    """The first header ``name`` as text (None if absent or not ASCII)."""
    for key, data in headers or ():
        if key == name and data:
            try:
                return data.decode("ascii") if isinstance(data, bytes) else str(data)
            except UnicodeDecodeError:
                return None
    return None
