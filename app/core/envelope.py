"""Decode and validate event envelopes; normalise them for the rest of the core.

A valid event becomes a plain dict with the envelope's fields, ``timestamp`` rewritten in UTC
(``...Z``), ``properties``/``context`` always dicts, plus ``ts`` (epoch milliseconds) and ``key``
(the customer id, else the anonymous id: the id the event is handled under).
Anything else raises :class:`InvalidEvent` with a reason a producer can act on, and nothing
else: whatever the bytes, ``decode_event`` returns an event or raises ``InvalidEvent`` (a fuzz
test holds it to that), so one record can never stop the pipeline.

Limits (each a reason in the dead-letter record; docs/pipeline.md):

- the payload: at most ``MAX_EVENT_BYTES``, whatever the broker lets through;
- ``properties`` and ``context``: nested at most ``MAX_DEPTH`` levels, at most ``MAX_KEYS`` keys
  and list items in all, strings at most ``MAX_STRING`` characters. (orjson reads 1,024 levels
  but writes only 254: an event it could read and not forward would stop the worker);
- the timestamp: within ``MIN_TS``..``MAX_TS`` (1970 to 2200) once in UTC: year 9999 or 0001 is
  a producer's bug, and an event dated there would move its partition's time (and every wait on
  it) to the end of time;
- ``customer_id`` / ``anonymous_id`` / ``event_id``: no control characters (internal keys in the
  stores start with NUL, so no customer can collide with one);
- ``properties``: what the type's property schema asks (app/core/event_properties.py).
"""

from __future__ import annotations

import re
from typing import Any

import fastjsonschema
import orjson

from app.core.event_properties import PropertyProblem
from app.core.event_properties import rules as property_rules
from app.core.timeutil import TimeFormatError, format_ms, parse_rfc3339
from app.paths import SCHEMAS_DIR

MAX_EVENT_BYTES = 1024 * 1024  # 1 MiB: larger payloads are rejected, never parsed
MAX_DEPTH = 16
MAX_KEYS = 1_000
MAX_STRING = 32_768
MIN_TS = 0  # 1970-01-01T00:00:00Z
MAX_TS = 7_258_118_400_000  # 2200-01-01T00:00:00Z
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCALAR_TYPES = frozenset({int, float, bool, type(None)})

Event = dict[str, Any]


class InvalidEvent(ValueError):
    """The bytes are not a valid event envelope; ``reason`` says why, for the dead-letter topic;
    ``path``, where known, the field at fault (``properties.total``)."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


def _load_validator() -> Any:
    schema = orjson.loads((SCHEMAS_DIR / "event.schema.json").read_bytes())
    return fastjsonschema.compile(schema)


_validate = _load_validator()

# Producers (and the simulator) mostly send timestamps already in the normalised form
# (UTC, ``Z``, ``.mmm`` only when non-zero): for those the text is kept and the epoch ms come
# from a cache of the second (``YYYY-MM-DDTHH:MM:SS``: many events share one), skipping a
# regex, a datetime parse and a strftime per event.
_CANONICAL_SECOND = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\Z")
_DAY_MS: dict[str, int] = {}  # "2026-03-02" -> epoch ms of its UTC midnight
_SECOND_MS: dict[str, int] = {}  # "2026-03-02T10:00:00" -> epoch ms
_CACHE_SIZE = 100_000


def _second_ms(head: str) -> int | None:
    """Epoch ms of ``YYYY-MM-DDTHH:MM:SS`` (UTC), else None."""
    match = _CANONICAL_SECOND.match(head)
    if match is None:
        return None
    day, hh, mm, ss = match.groups()
    hour, minute, second = int(hh), int(mm), int(ss)
    if hour > 23 or minute > 59 or second > 59:
        return None
    base = _DAY_MS.get(day)
    if base is None:
        try:
            base = parse_rfc3339(f"{day}T00:00:00Z")  # also rejects 2026-02-30
        except TimeFormatError:
            return None
        if len(_DAY_MS) >= _CACHE_SIZE:
            _DAY_MS.clear()
        _DAY_MS[day] = base
    return base + ((hour * 60 + minute) * 60 + second) * 1_000


def _canonical_ms(text: str) -> int | None:
    """Epoch ms of a timestamp already in normalised form, else None (use the full parser)."""
    size = len(text)
    if size == 20:
        if text[19] != "Z":
            return None
        millis = 0
    elif size == 24:
        digits = text[20:23]
        if text[19] != "." or text[23] != "Z" or digits == "000":
            return None
        if not (digits.isascii() and digits.isdigit()):
            return None
        millis = int(digits)
    else:
        return None
    head = text[:19]
    base = _SECOND_MS.get(head)
    if base is None:
        base = _second_ms(head)
        if base is None:
            return None
        if len(_SECOND_MS) >= _CACHE_SIZE:
            _SECOND_MS.clear()
        _SECOND_MS[head] = base
    return base + millis


def decode_event(raw: bytes | bytearray | memoryview | str | None) -> Event:
    """Decode one JSON envelope from bytes and validate it."""
    if raw is None:
        raise InvalidEvent("empty value: no event payload")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"oversize payload: {len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # also JSON nested deeper than orjson reads
        raise InvalidEvent(f"bad JSON: {exc}") from None
    try:
        return _validated(obj, shapes_known_fine=_small_enough(raw))
    except InvalidEvent:
        raise
    except Exception as exc:  # a bug of ours must not stop the pipeline: the DLQ says so
        raise InvalidEvent(f"unreadable event ({type(exc).__name__}: {exc})") from None


_SMALL_PAYLOAD = 2 * MAX_KEYS  # under it, no string or count of keys can reach a limit


def _small_enough(raw: bytes | bytearray | memoryview | str) -> bool:
    """Whether the payload's size alone proves ``properties`` and ``context`` within the
    limits, so the walk over them is skipped (most events take this; the walk cost ~5 % of
    the live worker's time on nested simulated events). K keys and list items take at least
    2K-1 bytes (a value and a comma each), a string of N characters at least N bytes, and a
    container nested N levels deep N opening brackets (counted anywhere, strings too: that
    only overcounts)."""
    if type(raw) is not bytes or len(raw) >= _SMALL_PAYLOAD:
        return False
    return raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH


def _shape_problem(value: dict[str, Any], field: str) -> str | None:
    """Why ``properties`` or ``context`` exceeds the limits, else None. Most events carry a
    few scalars: those take the first loop only."""
    if len(value) <= MAX_KEYS:
        for item in value.values():
            kind = type(item)
            if kind is str:
                if len(item) > MAX_STRING:
                    break
            elif kind not in _SCALAR_TYPES:
                break
        else:
            return None
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str) and len(item) > MAX_STRING:
                return f"{field}: a string of {len(item)} characters (limit {MAX_STRING})"
            continue
        if depth > MAX_DEPTH:
            return f"{field}: nested deeper than {MAX_DEPTH} levels"
        keys += len(item)
        if keys > MAX_KEYS:
            return f"{field}: more than {MAX_KEYS} keys and list items"
        stack.extend((child, depth + 1) for child in children)
    return None


def _plainly_valid(obj: dict[str, Any]) -> int | None:
    """The epoch ms of an envelope in the form producers nearly always send (every field of
    the expected type and length, the timestamp normalised), else None: then the compiled
    schema decides and says why. A subset of event.schema.json, so it never accepts what the
    schema refuses (a property test holds it to that); it saves the schema's ~8 us per event."""
    event_id, kind = obj.get("event_id"), obj.get("type")
    if type(event_id) is not str or type(kind) is not str:
        return None
    if not (0 < len(event_id) <= 256 and 0 < len(kind) <= 128):
        return None
    customer, anonymous = obj.get("customer_id"), obj.get("anonymous_id")
    if customer is not None and (type(customer) is not str or len(customer) > 256):
        return None
    if anonymous is not None and (type(anonymous) is not str or len(anonymous) > 256):
        return None
    if not customer and not anonymous:
        return None
    if not (event_id.isprintable() and (customer or "").isprintable()):
        return None  # maybe a control character: the full check says
    if anonymous and not anonymous.isprintable():
        return None
    properties, context = obj.get("properties"), obj.get("context")
    if properties is not None and type(properties) is not dict:
        return None
    if context is not None and type(context) is not dict:
        return None
    timestamp = obj.get("timestamp")
    return _canonical_ms(timestamp) if type(timestamp) is str else None


def validate_event(obj: Any) -> Event:
    """Validate a decoded envelope and return its normalised form."""
    try:
        return _validated(obj)
    except InvalidEvent:
        raise
    except Exception as exc:  # a bug of ours must not stop the pipeline: the DLQ says so
        raise InvalidEvent(f"unreadable event ({type(exc).__name__}: {exc})") from None


def _validated(obj: Any, shapes_known_fine: bool = False) -> Event:
    if not isinstance(obj, dict):
        raise InvalidEvent(f"envelope must be a JSON object, got {type(obj).__name__}")
    ts = plain = _plainly_valid(obj)
    if ts is None:
        try:
            _validate(obj)
        except fastjsonschema.JsonSchemaValueException as exc:
            if exc.rule == "anyOf":  # the only anyOf in the schema is the id requirement
                raise InvalidEvent(
                    "missing id: one of customer_id / anonymous_id must be a non-empty string"
                ) from None
            raise InvalidEvent(f"schema: {exc.message}") from None
    timestamp = obj["timestamp"]
    if ts is None:
        ts = _canonical_ms(timestamp) if type(timestamp) is str else None
    if ts is None:
        try:
            ts = parse_rfc3339(timestamp)
        except TimeFormatError as exc:
            raise InvalidEvent(f"timestamp: {exc}") from None
        except (OverflowError, ValueError):  # e.g. 9999-12-31T23:59:59-23:59 in UTC
            raise InvalidEvent(f"timestamp out of range: {timestamp}") from None
        if MIN_TS <= ts < MAX_TS:
            timestamp = format_ms(ts)
    if not MIN_TS <= ts < MAX_TS:
        raise InvalidEvent(
            f"timestamp out of range: {timestamp} (events must be dated 1970-01-01 to 2200-01-01)"
        )
    customer_id = obj.get("customer_id") or None
    anonymous_id = obj.get("anonymous_id") or None
    if plain is None:  # (the plain form's ids are printable: _plainly_valid checked)
        for name, text in (
            ("event_id", obj["event_id"]),
            ("customer_id", customer_id),
            ("anonymous_id", anonymous_id),
        ):
            if text and _CONTROL.search(text):
                raise InvalidEvent(f"{name} contains a control character")
    properties, context = obj.get("properties"), obj.get("context")
    if not shapes_known_fine:
        if properties and (problem := _shape_problem(properties, "properties")):
            raise InvalidEvent(problem)
        if context and (problem := _shape_problem(context, "context")):
            raise InvalidEvent(problem)
    try:
        property_rules().check(obj["type"], properties or {})
    except PropertyProblem as exc:
        raise InvalidEvent(exc.reason, exc.path) from None
    return {
        "event_id": obj["event_id"],
        "type": obj["type"],
        "customer_id": customer_id,
        "anonymous_id": anonymous_id,
        "timestamp": timestamp,
        "properties": properties or {},
        "context": context or {},
        "ts": ts,
        "key": customer_id or anonymous_id,
    }
