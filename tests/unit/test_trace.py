"""Issue 17: a W3C traceparent on an input event travels on to its actions (and receipts)."""

from __future__ import annotations

from app.core.trace import header_text, trace_of, valid_traceparent
from app.stream.journey_agent import action_headers

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_taken_and_an_invalid_one_dropped() -> None:
    assert valid_traceparent(PARENT) and trace_of([("traceparent", PARENT.encode())]) == PARENT
    for bad in (
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # an unknown version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the zero trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # the zero span
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        PARENT + "-extra",
    ):
        assert not valid_traceparent(bad)
        assert trace_of([("traceparent", bad.encode())]) is None


def test_header_text_reads_the_first_header_of_its_name() -> None:
    headers = [("x", b"1"), ("traceparent", PARENT.encode()), ("traceparent", b"other")]
    assert header_text(headers) == PARENT
    assert header_text(None) is None and header_text([("traceparent", b"\xff")]) is None


def test_an_actions_headers_name_its_format_its_source_and_its_trace() -> None:
    source = {"topic": "events", "partition": 2, "offset": 41, "traceparent": PARENT}
    headers = dict(action_headers((("content-type", b"application/json"),), source))
    assert headers == {
        "content-type": b"application/json",
        "segue-source-topic": b"events",
        "segue-source-partition": b"2",
        "segue-source-offset": b"41",
        "traceparent": PARENT.encode(),
    }
    timer = action_headers((("content-type", b"application/json"),), None)
    assert timer == [("content-type", b"application/json")]  # a timer's action: no source


def test_the_tracestate_travels_with_a_valid_traceparent_only() -> None:
    from app.core.trace import trace_headers

    state = b"vendor=opaque"
    assert trace_headers([("traceparent", PARENT.encode()), ("tracestate", state)]) == [
        ("traceparent", PARENT.encode()),
        ("tracestate", state),
    ]
    assert trace_headers([("traceparent", b"garbage"), ("tracestate", state)]) == []
    assert trace_headers(None) == []
