"""Shared runs for the simulator tests (computed once per test session)."""

from __future__ import annotations

from functools import cache
from typing import Any

from app.sim import DEFAULT_START_MS, simulate

LONG_RATE = 2.0
LONG_DURATION_S = 8 * 3600.0  # long enough for tickets to close and payments to be retried


@cache
def long_run() -> tuple[dict[str, Any], ...]:
    return tuple(simulate(7, LONG_RATE, LONG_DURATION_S, DEFAULT_START_MS))  # type: ignore[arg-type]
