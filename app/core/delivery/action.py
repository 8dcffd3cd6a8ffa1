"""Decode and check an action record (topics/schemas/action.schema.json) for one channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
import orjson

from app.core.delivery.errors import PermanentError
from app.paths import SCHEMAS_DIR

_validate = fastjsonschema.compile(orjson.loads((SCHEMAS_DIR / "action.schema.json").read_bytes()))


def decode_action(
    raw: bytes | None, channel: str, loads: Callable[[bytes], Any] = orjson.loads
) -> dict[str, Any]:
    """The action dict, or PermanentError with the reason (bad JSON, schema, wrong channel).
    ``loads``: the decoder of the record (JSON, or a format's: app/formats/codecs.py), which
    raises a ValueError saying why it cannot."""
    if not raw:
        raise PermanentError("bad action: empty record")
    try:
        obj = loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"bad action: bad JSON: {exc}") from None
    except ValueError as exc:
        raise PermanentError(f"bad action: {getattr(exc, 'reason', exc)}") from None
    try:
        _validate(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise PermanentError(f"bad action: schema: {exc.message}") from None
    if obj["channel"] != channel:
        raise PermanentError(f"bad action: channel {obj['channel']!r} on the {channel} topic")
    if "decision" in obj:
        raise PermanentError("bad action: a suppressed/held-out decision is not to be sent")
    return obj


def partial_action(
    raw: bytes | None, loads: Callable[[bytes], Any] = orjson.loads
) -> dict[str, Any]:
    """Whatever action_id/customer_id a rejected record carries (for its MessageFailed receipt)."""
    try:
        obj = loads(raw or b"")
    except ValueError:  # orjson's JSONDecodeError too
        return {}
    if not isinstance(obj, dict):
        return {}
    ok = isinstance(obj.get("action_id"), str) and isinstance(obj.get("customer_id"), str)
    return obj if ok else {}
