"""The broker probe every Kafka command runs first (app/broker/reach.py): one line, at once."""

from __future__ import annotations

import time

import pytest

from app.broker.embedded import free_port
from app.broker.reach import BrokerAway, away, away_message, flush, probe
from app.settings import Settings


def test_the_line_says_where_and_what_to_do() -> None:
    assert away_message(Settings(bootstrap_servers="127.0.0.1:19092")) == (
        "no broker at 127.0.0.1:19092 (start one with `segue broker start`)"
    )
    assert away_message(Settings(bootstrap_servers="127.0.0.1:4242")) == (
        "no broker at 127.0.0.1:4242 (start one with `segue broker start --port 4242`)"
    )
    external = away_message(Settings(bootstrap_servers="kafka-1.internal:9092"))
    assert (
        external == "no broker at kafka-1.internal:9092 (is it up? check SEGUE_BOOTSTRAP_SERVERS)"
    )


def test_a_closed_port_is_told_in_one_line_within_a_second() -> None:
    settings = Settings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    began = time.monotonic()
    with pytest.raises(BrokerAway) as caught:
        probe(settings)
    assert time.monotonic() - began < 1.0
    assert str(caught.value) == away_message(settings)
    assert away(settings) == away_message(settings)


class Producer:
    """Acknowledges its records after ``after`` flushes."""

    def __init__(self, after: int | None) -> None:
        self.after = after
        self.flushes: list[float] = []

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        return 0 if self.after is not None and len(self.flushes) >= self.after else 3


def test_a_flush_ends_when_the_records_are_in_or_when_told_to_give_up() -> None:
    assert flush(Producer(after=3), 60, lambda: None) == (0, "")
    reasons = iter([None, None, "no broker at x"])
    waiting = Producer(after=None)
    assert flush(waiting, 60, lambda: next(reasons)) == (3, "no broker at x")
    assert len(waiting.flushes) == 3 and max(waiting.flushes) <= 0.5


def test_a_flush_without_a_reason_to_give_up_ends_at_its_timeout() -> None:
    began = time.monotonic()
    left, why = flush(Producer(after=None), 0.05, lambda: None)
    assert (left, why) == (3, "0 s passed")
    assert time.monotonic() - began < 1.0
