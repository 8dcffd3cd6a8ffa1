"""``segue replay``: run an event file through the journey engine (backtests)."""

from __future__ import annotations
