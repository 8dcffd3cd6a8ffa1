"""The collector policy: young collections and a freeze after each checkpoint, everything
collected once per interval (app/runtime/gc_policy.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.runtime.gc_policy import CollectorPolicy


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_alive_objects_are_frozen_and_a_full_collection_comes_with_the_interval() -> None:
    now = [0.0]
    policy = CollectorPolicy(full_every_s=600, clock=lambda: now[0])
    cycle = Cycle()
    ref = weakref.ref(cycle)
    policy.after_checkpoint()
    assert gc.get_freeze_count() > 0
    del cycle  # cyclic garbage now, but frozen: no collection before the interval finds it
    now[0] = 300
    policy.after_checkpoint()
    gc.collect(1)
    assert ref() is not None
    now[0] = 601
    policy.after_checkpoint()  # the full collection, frozen objects included
    assert ref() is None


def test_young_cyclic_garbage_goes_at_the_checkpoint_not_into_the_freeze() -> None:
    now = [0.0]
    policy = CollectorPolicy(full_every_s=600, clock=lambda: now[0])
    policy.after_checkpoint()
    cycle = Cycle()
    ref = weakref.ref(cycle)
    del cycle
    now[0] = 1
    policy.after_checkpoint()
    assert ref() is None
