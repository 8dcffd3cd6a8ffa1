"""Decode + validate throughput alone (``parse_events`` on the core_replay stream), best of 5.

    python bench/decode_validate.py [ROOT]   # ROOT: a checkout to measure (default: this one)

The best of several runs filters out noise from other processes on a shared machine.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from core_replay import generate  # noqa: E402

from app.core.journeys.replay import parse_events  # noqa: E402

lines = generate(200_000, 20_000)
gc.disable()
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    parse_events(lines)
    best = min(best, time.perf_counter() - start)
print(f"{ROOT}: decode+validate {len(lines) / best:,.0f} events/s (best of 5, {best:.2f}s)")
