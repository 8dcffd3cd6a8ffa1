"""HMAC-SHA256 signatures over ``timestamp + "." + body`` (the Stripe/Svix scheme).

Signing the timestamp with the body lets the receiver reject replays of an old, validly signed
request (``tolerance_s``). Headers: ``X-Segue-Timestamp`` (epoch seconds) and
``X-Segue-Signature`` (``v1=<hex>``)."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Segue-Timestamp"
SIGNATURE_HEADER = "X-Segue-Signature"
#: how far a timestamp may be from the receiver's clock, either way
TOLERANCE_S = 300


def signature(secret: bytes, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret, b"%d." % timestamp_s + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign_headers(secret: bytes, timestamp_s: int, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp_s),
        SIGNATURE_HEADER: signature(secret, timestamp_s, body),
    }


def verify(
    secret: bytes,
    timestamp: str | None,
    sig: str | None,
    body: bytes,
    now_s: int,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """True if ``sig`` signs ``body`` at ``timestamp`` and the timestamp is fresh."""
    if not timestamp or not sig or not timestamp.isdigit():
        return False
    ts = int(timestamp)
    if abs(now_s - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), sig)
