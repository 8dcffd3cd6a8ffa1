"""Malformed events for demonstrating the dead-letter topic.

``malformed_rate`` x total of the simulated records are replaced by raw ``bytes`` that
``app.core.envelope.decode_event`` must reject. They sit at stratified random positions (one in
each stretch of 1 / rate records) and cycle through the kinds below, so even a handful of them
covers every common kind; the rare ``oversize`` kind (> 1 MiB) is the 50th malformed record and
every 500th after it.

========== =====================================================================
kind       what the bytes are
========== =====================================================================
bad_json   a valid envelope cut short, or with its closing brace replaced
not_object a JSON array or string instead of an object
wrong_type a field of the wrong JSON type (numeric id, string properties, ...)
missing    a required field (event_id, type or timestamp) left out
missing_id neither customer_id nor anonymous_id (absent, null or empty)
bad_time   a timestamp without a zone, impossible date, or not a timestamp
oversize   a well-formed envelope over 1 MiB (padding in properties)
========== =====================================================================
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from app.core.envelope import MAX_EVENT_BYTES

KINDS = ("bad_json", "not_object", "wrong_type", "missing", "missing_id", "bad_time")
OVERSIZE_FIRST = 49  # the 50th malformed record ...
OVERSIZE_EVERY = 500  # ... and every 500th after it


def _base(event_id: str, timestamp: str, customer_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "PageViewed",
        "customer_id": customer_id,
        "anonymous_id": None,
        "timestamp": timestamp,
        "properties": {"session_id": "s-bad", "page_type": "informational", "url": "/help"},
        "context": {"channel": "web", "source": "segue-sim", "malformed": True},
    }


def _bad_json(rng: random.Random, env: dict[str, Any]) -> bytes:
    raw = orjson.dumps(env)
    if rng.random() < 0.5:
        return raw[: rng.randrange(1, len(raw) - 1)]
    return raw[:-1] + b","


def _not_object(rng: random.Random, env: dict[str, Any]) -> bytes:
    return orjson.dumps([env] if rng.random() < 0.5 else env["event_id"])


def _wrong_type(rng: random.Random, env: dict[str, Any]) -> bytes:
    field, value = rng.choice(
        [
            ("event_id", 12345),
            ("type", ["PageViewed"]),
            ("customer_id", 42),
            ("properties", "cart_value=10"),
            ("context", ["web"]),
            ("timestamp", 1_795_000_000_000),
        ]
    )
    env[field] = value
    return orjson.dumps(env)


def _missing(rng: random.Random, env: dict[str, Any]) -> bytes:
    del env[rng.choice(("event_id", "type", "timestamp"))]
    return orjson.dumps(env)


def _missing_id(rng: random.Random, env: dict[str, Any]) -> bytes:
    variant = rng.randrange(3)
    if variant == 0:
        del env["customer_id"], env["anonymous_id"]
    elif variant == 1:
        env["customer_id"] = None
    else:
        env["customer_id"] = ""
        env["anonymous_id"] = ""
    return orjson.dumps(env)


def _bad_time(rng: random.Random, env: dict[str, Any]) -> bytes:
    ts = env["timestamp"]
    env["timestamp"] = rng.choice(
        [ts.rstrip("Z").split(".")[0], "2026-02-30T25:61:00Z", "yesterday", ts.replace("T", "/")]
    )
    return orjson.dumps(env)


def _oversize(rng: random.Random, env: dict[str, Any]) -> bytes:
    env["properties"]["padding"] = "x" * (MAX_EVENT_BYTES + 1024)
    return orjson.dumps(env)


_MAKERS: dict[str, Callable[[random.Random, dict[str, Any]], bytes]] = {
    "bad_json": _bad_json,
    "not_object": _not_object,
    "wrong_type": _wrong_type,
    "missing": _missing,
    "missing_id": _missing_id,
    "bad_time": _bad_time,
    "oversize": _oversize,
}


def kind_of(k: int) -> str:
    """The kind of the k-th (0-based) malformed record of a run."""
    if k >= OVERSIZE_FIRST and (k - OVERSIZE_FIRST) % OVERSIZE_EVERY == 0:
        return "oversize"
    return KINDS[k % len(KINDS)]


class MalformedPlan:
    """Where the malformed records go (positions 0..total-1) and what they look like."""

    def __init__(self, seed: int, total: int, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"malformed_rate must be within [0, 1], got {rate}")
        # Its own RNG: the malformed bytes never perturb the valid events' randomness.
        self._rng = random.Random(f"segue-sim-malformed-{seed}")
        self.count = int(total * rate)
        self._total = total
        self._k = 0
        self._last = -1

    def next_position(self) -> int:
        """Position of the next malformed record, or -1 when there are no more."""
        if self._k >= self.count:
            return -1
        stride = self._total / self.count  # >= 1
        # One position in each stride; max() keeps them distinct when strides are short.
        pos = max(int((self._k + self._rng.random()) * stride), self._last + 1)
        self._last = pos
        return pos

    def make(self, event_id: str, timestamp: str, customer_id: str) -> bytes:
        kind = kind_of(self._k)
        self._k += 1
        env = _base(event_id, timestamp, customer_id)
        raw = _MAKERS[kind](self._rng, env)
        assert b"\n" not in raw  # one record per line in JSON-lines output
        return raw
