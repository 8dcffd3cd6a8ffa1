"""When the process's cyclic garbage collector runs: not in the middle of the stream.

A worker holds tens of thousands of decoded store values (acyclic JSON: dicts, lists, strings)
in its stores' caches. CPython's full collections walk every tracked object, and measured on
a worker at 5,000 events/s (bench/latency_probe.py) one ran every 3-4 s and held the loop
110-140 ms each time while collecting nothing: most of the p99 event-to-action latency.

So after each checkpoint the young generations are collected (cyclic garbage made since the
last one goes now; ~0.1 ms) and everything still alive is frozen (``gc.freeze``: kept out of
later collections; freed as usual when its last reference goes). A full collection of
everything, frozen objects included, runs every ``FULL_EVERY_S`` for what may have become cyclic
garbage after it was frozen: one pause of that size per interval instead of one every few
seconds.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

#: how often everything is collected, frozen objects included
FULL_EVERY_S = 600.0

log = logging.getLogger("segue.runtime.gc")


class CollectorPolicy:
    def __init__(
        self, full_every_s: float = FULL_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full_every_s = full_every_s
        self.clock = clock
        self._last_full = clock()

    def after_checkpoint(self) -> None:
        now = self.clock()
        if now - self._last_full >= self.full_every_s:
            gc.unfreeze()
            found = gc.collect()
            log.debug("full collection: %d objects in %.0f ms", found, (self.clock() - now) * 1e3)
            self._last_full = self.clock()
        else:
            gc.collect(1)
        gc.freeze()
