"""librdkafka's log through the step gate (app/kafka_log.py): the first report of a burst, then
one line per back-off step naming each distinct report once."""

from __future__ import annotations

import logging

from app.kafka_log import MAX_STEP_S, QUIET_S, StepGate, clean, kind_of

REFUSED = (
    "FAIL [rdkafka#consumer-4] [thrd:127.0.0.1:5/bootstrap]: 127.0.0.1:5/bootstrap: Connect to "
    "ipv4#127.0.0.1:5 failed: Connection refused (after 0ms in state CONNECT)"
)
DOWN = "ERROR [rdkafka#producer-2] [thrd:app]: rdkafka#producer-2: 1/1 brokers are down"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(text: str, level: int = logging.ERROR) -> logging.LogRecord:
    # what confluent-kafka passes: logger.log(level, "%s [%s] %s", fac, name, message)
    fac, _, rest = text.partition(" ")
    name, _, message = rest[1:].partition("] ")
    return logging.LogRecord(
        "segue.kafka", level, __file__, 1, "%s [%s] %s", (fac, name, message), None
    )


def run(gate: StepGate, clock: Clock, texts: list[str], every_s: float) -> list[str]:
    """Feed the texts in turn, ``every_s`` apart; the lines that pass."""
    passed = []
    for text in texts:
        r = record(text)
        if gate.filter(r):
            passed.append(r.getMessage())
        clock.now += every_s
    return passed


def test_a_lines_client_and_thread_and_the_changing_parts_are_left_out() -> None:
    assert clean(REFUSED) == (
        "127.0.0.1:5/bootstrap: Connect to ipv4#127.0.0.1:5 failed: Connection refused"
    )
    other_client = REFUSED.replace("consumer-4", "producer-1").replace("0ms", "3ms")
    assert kind_of(other_client) == kind_of(REFUSED)
    assert kind_of(DOWN) != kind_of(REFUSED)


def test_the_first_report_passes_then_one_line_per_step_with_each_kind_once() -> None:
    clock = Clock()
    gate = StepGate(clock)
    # an outage of 60 s, reported every 50 ms by a client (what librdkafka does on a closed port)
    passed = run(gate, clock, [REFUSED, DOWN] * 600, every_s=0.05)
    assert passed[0] == f"kafka: {clean(REFUSED)}"
    # the steps: 1, 2, 4, 8, 16 s, then every 30 s
    assert 6 <= len(passed) <= 8, passed
    for line in passed[1:]:
        assert line.count("Connection refused") == 1  # each kind named once, with its count
        assert line.count("brokers are down") == 1
    assert "(x" in passed[1] and "more reports" in passed[1]
    assert all(len(line) < 1000 for line in passed)


def test_the_step_stops_growing_at_its_cap() -> None:
    clock = Clock()
    gate = StepGate(clock)
    passed = run(gate, clock, [REFUSED] * 3000, every_s=0.1)  # 300 s
    # 1 + 5 doubling steps (31 s) + one every 30 s for the remaining ~269 s
    expected = 1 + 5 + int((300 - 31) // MAX_STEP_S)
    assert abs(len(passed) - expected) <= 1, passed


def test_quiet_ends_a_burst_and_the_next_report_passes_at_once() -> None:
    clock = Clock()
    gate = StepGate(clock)
    assert run(gate, clock, [REFUSED] * 3, every_s=0.1)[0].startswith("kafka: ")
    assert gate.troubled()
    clock.now += QUIET_S + 1
    assert not gate.troubled()
    assert run(gate, clock, [DOWN], every_s=0.1) == [f"kafka: {clean(DOWN)}"]


def test_a_summary_carries_the_highest_level_held() -> None:
    clock = Clock()
    gate = StepGate(clock)
    gate.filter(record(REFUSED, logging.INFO))
    clock.now += 0.5
    assert not gate.filter(record(REFUSED, logging.ERROR))
    clock.now += 0.6
    summary = record(REFUSED, logging.INFO)
    assert gate.filter(summary)
    assert summary.levelno == logging.ERROR and "2 more reports" in summary.getMessage()
