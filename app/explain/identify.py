"""Which key an ID names, as ``segue profile get`` resolves it: a customer id, an anonymous id,
or ``kind:value`` (``email_hash:..``, ``phone_hash:..``, ``device_id:..``, ``anonymous_id:..``).

An address given as ``email_hash:ann@example.com`` (or a phone number as ``phone_hash:``) is
hashed as ingest hashes it. Live the lookups read the changelogs (app/cli/profile.py); a replay
asks its own identity rows and states, with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.identity import (
    ANONYMOUS,
    CONTEXT_KINDS,
    EMAIL_HASH,
    PHONE_HASH,
    email_key,
    phone_key,
)

#: the identifier kinds an ID may be written as
KINDS = (ANONYMOUS, *CONTEXT_KINDS)


def normalise(identifier: str) -> tuple[str, str, str]:
    """(kind, value, identifier) with an address or a phone number hashed into its key; kind
    and value are empty unless the ID is written ``kind:value`` with a known kind."""
    kind, _, value = identifier.partition(":")
    if kind == EMAIL_HASH and value:
        value = email_key(value)
    elif kind == PHONE_HASH and value:
        value = phone_key(value)
    if kind in KINDS and value:
        return kind, value, f"{kind}:{value}"
    return "", "", identifier


def resolve_key(
    identifier: str,
    owner_of: Callable[[str], str | None],
    has_state: Callable[[str], bool],
) -> str | None:
    """The key holding the state ``identifier`` names, None if none does. ``owner_of(i)`` is the
    customer owning identifier ``i`` (an identity row), ``has_state(k)`` whether ``k`` holds a
    state (a merged-away anonymous key holds none)."""
    kind, value, normal = normalise(identifier)
    if kind:
        key = owner_of(normal)
        if key is None and kind == ANONYMOUS:
            key = value  # an anonymous visitor nobody claimed: its own key
        return key if key is not None and has_state(key) else None
    if has_state(identifier):
        return identifier
    owner = owner_of(f"{ANONYMOUS}:{identifier}")  # an anonymous id given bare, since linked
    return owner if owner is not None and has_state(owner) else None
