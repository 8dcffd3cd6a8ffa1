"""Crash points for the fault tests: ``SEGUE_CRASH_AT=<point>:<n>`` ends the process (no
cleanup, like SIGKILL) the n-th time it passes ``<point>``. Unset, a crash point costs one
dictionary lookup. The points are named where they are passed (checkpoint.py)."""

from __future__ import annotations

import os

_spec = os.environ.get("SEGUE_CRASH_AT", "")
_point, _, _count = _spec.partition(":")
_left = {_point: int(_count or "1")} if _point else {}


def crash_point(name: str) -> None:
    left = _left.get(name)
    if left is None:
        return
    if left <= 1:
        os._exit(137)  # what a SIGKILL'd process reports
    _left[name] = left - 1
