"""W3C trace context (``traceparent``) carried from an input event to its actions and receipts.

A producer that traces puts ``traceparent: 00-<trace id>-<parent span id>-<flags>`` on its event
record; every action that event causes carries the same header, and every receipt a sink writes
for that action carries it on, so the provider's delivery, the receipt and whatever a consumer of
the action topics does all join the producer's trace under its span. Segue forwards the header
unchanged rather than naming spans of its own: it exports no spans, and a span id that no
tracing backend ever receives would leave the consumers' spans hanging from a parent that does
not exist (the trace context spec's pass-through participant). A header that is not a valid
version-00 traceparent is dropped, as the spec asks of one that cannot parse it
(https://www.w3.org/TR/trace-context/#traceparent-header).
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "traceparent"
STATE_HEADER = "tracestate"  # vendors' own part of the context: forwarded with the traceparent
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def valid_traceparent(value: str) -> bool:
    match = _TRACEPARENT.match(value)
    if match is None:
        return False
    return match.group(1) != _ZERO_TRACE and match.group(2) != _ZERO_SPAN


def header_text(headers: Any, name: str = HEADER) -> str | None:
    """The first header ``name`` as text (None if absent or not ASCII)."""
    for key, data in headers or ():
        if key == name and data:
            try:
                return data.decode("ascii") if isinstance(data, bytes) else str(data)
            except UnicodeDecodeError:
                return None
    return None


def trace_of(headers: Any) -> str | None:
    """The valid traceparent among ``headers``, else None."""
    text = header_text(headers)
    return text if text is not None and valid_traceparent(text) else None


def trace_headers(headers: Any) -> list[tuple[str, bytes]]:
    """The trace context to pass on from ``headers``: a valid traceparent and, with it only
    (the spec's rule), the tracestate; nothing otherwise."""
    parent = trace_of(headers)
    if parent is None:
        return []
    out = [(HEADER, parent.encode())]
    state = header_text(headers, STATE_HEADER)
    if state:
        out.append((STATE_HEADER, state.encode()))
    return out
