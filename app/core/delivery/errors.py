"""Why a delivery did not succeed, and whether trying again can help."""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery failed; ``reason`` is short, human-readable and goes into the DLQ record."""

    retryable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentError(DeliveryError):
    """Trying again cannot help (4xx, a bad action, a missing template or variable): the action
    goes to the DLQ at once. Operator: fix the action, template or provider config and
    re-publish the DLQ record's original bytes."""


class TransientError(DeliveryError):
    """The provider may accept it later (timeout, refused connection, 5xx, 429, open circuit):
    retried with backoff up to the attempt limit, then dead-lettered."""

    retryable = True


# 408 Request Timeout and 429 Too Many Requests are 4xx codes that ask the client to come back.
_RETRYABLE_4XX = frozenset({408, 429})


def check_status(status: int, detail: str = "") -> None:
    """Raise the right error for an HTTP status that is not a success."""
    if 200 <= status < 300:
        return
    text = f"HTTP {status}" + (f": {detail[:200]}" if detail else "")
    if status >= 500 or status in _RETRYABLE_4XX:
        raise TransientError(text)
    raise PermanentError(text)
