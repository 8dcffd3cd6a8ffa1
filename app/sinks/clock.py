"""The sink's clock, injected so that retries, the rate limit and the breaker are testable
without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ms(self) -> float: ...
    def wall_ms(self) -> int: ...
    def sleep_ms(self, ms: float) -> None: ...


class SystemClock:
    def monotonic_ms(self) -> float:
        return time.monotonic() * 1000

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            time.sleep(ms / 1000)
