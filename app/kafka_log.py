"""librdkafka's own log, at most one line per back-off step.

Every Kafka client Segue makes logs through the logger ``segue.kafka`` (``Settings.kafka_config``
gives it to librdkafka as its ``logger``), and so do the loops' reports of consumer errors.
librdkafka writes a line per failed connection attempt of each client, so a broker that went
away filled a worker's log with ~80 lines a second (issue 16: ~2,400 in 30 s). The gate here lets
the first report of a burst through, holds the rest, and lets one line through per back-off step
(1, 2, 4, 8, 16, then every 30 s while the burst lasts) naming each distinct report held, once,
with its count. A burst ends after ``QUIET_S`` without a report.

``troubled()`` tells whether librdkafka complained lately: the cheap first test of
``app.broker.reach.suspect_away``, so that a healthy loop never opens a connection to ask.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

#: the first held reports are summed up this long after the burst began; each step doubles
FIRST_STEP_S = 1.0
MAX_STEP_S = 30.0
#: a report this long after the previous one starts a new burst (librdkafka retries a broker
#: at least every 10 s, reconnect.backoff.max.ms, so an outage is one burst)
QUIET_S = 30.0
#: distinct reports named in a step's line, and the characters of each
SHOWN = 3
SHOWN_CHARS = 200

#: "FAIL [rdkafka#consumer-4] [thrd:127.0.0.1:9092/bootstrap]: " (facility, client, thread)
_PREFIX = re.compile(r"^\w+ \[rdkafka#[^\]]*\] (?:\[thrd:[^\]]*\]: )?")
#: "(after 0ms in state CONNECT, 3 identical error(s) suppressed)": differs every time
_AFTER = re.compile(r"\s*\(after \d+ms in state [^)]*\)")
_DIGITS = re.compile(r"\d+")


def clean(text: str) -> str:
    """A librdkafka line without the parts that name the client and thread."""
    return _AFTER.sub("", _PREFIX.sub("", text))


def kind_of(text: str) -> str:
    """What makes two reports the same: the text without its numbers (ports, counts)."""
    return _DIGITS.sub("#", clean(text))


class StepGate(logging.Filter):
    """The filter of ``segue.kafka``: a burst's first record passes (cleaned), the rest are held
    and summed up in one record per back-off step."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None  # the latest report, any burst
        self._began = 0.0
        self._step = FIRST_STEP_S
        self._next_at = 0.0
        self._held: dict[str, tuple[int, str]] = {}  # kind -> (count, latest text)
        self._held_level = logging.NOTSET

    def filter(self, record: logging.LogRecord) -> bool:
        text = clean(record.getMessage())
        with self._lock:
            now = self.clock()
            fresh = self._last is None or now - self._last > QUIET_S
            self._last = now
            if fresh:
                self._began, self._step = now, FIRST_STEP_S
                self._next_at = now + self._step
                self._held.clear()
                self._held_level = logging.NOTSET
                _rewrite(record, f"kafka: {text}", record.levelno)
                return True
            kind = kind_of(text)
            count, _ = self._held.get(kind, (0, text))
            self._held[kind] = (count + 1, text)
            self._held_level = max(self._held_level, record.levelno)
            if now < self._next_at:
                return False
            line = self._summary(now)
            level = self._held_level
            self._held.clear()
            self._held_level = logging.NOTSET
            self._step = min(self._step * 2, MAX_STEP_S)
            self._next_at = now + self._step
        _rewrite(record, line, level)
        return True

    def _summary(self, now: float) -> str:
        reports = sum(count for count, _ in self._held.values())
        shown = sorted(self._held.values(), key=lambda held: -held[0])[:SHOWN]
        named = "; ".join(f"{text[:SHOWN_CHARS]} (x{count})" for count, text in shown)
        more = len(self._held) - len(shown)
        if more > 0:
            named += f"; {more} other kind{'' if more == 1 else 's'}"
        return (
            f"kafka: {reports} more report{'' if reports == 1 else 's'}, "
            f"for {now - self._began:.0f} s now "
            f"(next summary in {min(self._step * 2, MAX_STEP_S):.0f} s): {named}"
        )

    def troubled(self, within_s: float = QUIET_S) -> bool:
        with self._lock:
            return self._last is not None and self.clock() - self._last <= within_s


def _rewrite(record: logging.LogRecord, message: str, level: int) -> None:
    record.msg, record.args = message, None
    record.levelno, record.levelname = level, logging.getLevelName(level)


GATE = StepGate()
#: the logger every Kafka client reports through (librdkafka's ``logger`` setting)
LOG = logging.getLogger("segue.kafka")
LOG.addFilter(GATE)


def troubled(within_s: float = QUIET_S) -> bool:
    """Whether a Kafka client of this process reported a problem in the last ``within_s``."""
    return GATE.troubled(within_s)
