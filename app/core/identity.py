"""Identity resolution: which customer an event belongs to, and what it teaches the identity graph.

The graph is a table keyed by *identifier* (``"<kind>:<value>"``: ``anonymous_id:a-1``,
``email_hash:9f..``, ``phone_hash:..``, ``device_id:..``) whose value is a small dict::

    {"c": "c-42",          # the known customer the identifier belongs to
     "x": ["c-7", ...]}    # other customers that claimed it, already sent for review (optional)

Only known customers (a ``customer_id`` on some event) own identifiers; an identifier nobody
owns has no row. An anonymous id without a row is its own key: its events build an anonymous
profile under that id until it is linked.

``resolve(event, links, config)`` is pure. ``links`` holds the current rows of the identifiers
the event names (``identifiers_of``); missing ones are unknown. Rules:

1. An event with a ``customer_id`` belongs to that customer, whatever its identifiers say. Each
   identifier it carries that nobody owns is linked to it; an anonymous id newly linked also
   yields a merge (anonymous key -> customer). Any event with a customer id links, not only
   ``Identify``: SDKs keep sending the anonymous id after login, and it states the same fact.
2. An event without a customer id belongs to the owner of its highest-priority owned identifier
   (``config.priority``); its other unowned identifiers are linked to that owner (an anonymous id
   seen with a known device is that device's customer, if the operator lists ``device_id``).
   With no owned identifier it stays under its anonymous id and nothing is linked.
3. An identifier owned by another customer than the one the event belongs to is a conflict: the
   event is still handled under its customer, the row is not changed (two known customers are
   never merged automatically), and a review record with both ids is returned, once per
   (identifier, claimant): the claimant is remembered in the row's ``"x"`` (at most
   ``MAX_REMEMBERED`` per row; beyond that every claim is reported, never silently dropped).
4. Re-sending an event that was already resolved changes nothing: every identifier is owned by
   the same customer, so there are no new rows, merges or review records.

Identifier kinds not in ``config.priority`` are ignored; empty or non-string values too.

An ``email_hash`` is SHA-256 of the trimmed, lower-cased address, in hex (``hash_email``). What
producers send as one is checked before it becomes a key (``email_key``): 64 hex digits are the
hash (lower-cased: the same hash in capitals is the same person); anything else (``ann@x.com``,
an address without its ``@``, another hash) is taken for the address itself and hashed the same
way, so a plain address never becomes a key and still links with its hashed form. Live and
replay both go through ``identifiers_of``, so they agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

ANONYMOUS = "anonymous_id"
#: identifier kinds an event may carry in ``context.identifiers``, besides its anonymous id
CONTEXT_KINDS = ("email_hash", "phone_hash", "device_id")
#: default priority: the browser's own id (linked by a login, and the streaming shell's ordering
#: anchor, see docs/identity.md), then the deterministic hashes, then the (shared) device
DEFAULT_PRIORITY = (ANONYMOUS, "email_hash", "phone_hash", "device_id")
#: claimants remembered per identifier row, so a repeated conflict is reported once
MAX_REMEMBERED = 16

Link = dict[str, Any]

_ANONYMOUS_PREFIX = ANONYMOUS + ":"


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Which identifier kinds resolve, strongest first (``anonymous_id`` must be listed)."""

    priority: tuple[str, ...] = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        known = {ANONYMOUS, *CONTEXT_KINDS}
        unknown = [kind for kind in self.priority if kind not in known]
        if unknown:
            raise ValueError(f"unknown identifier kinds {unknown}; known: {sorted(known)}")
        if len(set(self.priority)) != len(self.priority):
            raise ValueError(f"identifier kinds listed twice in {list(self.priority)}")
        if ANONYMOUS not in self.priority:
            raise ValueError("the priority must list anonymous_id")


class Resolution(NamedTuple):
    #: the key the event is handled under (a customer id, or its anonymous id if unlinked)
    key: str
    #: rows to write to the identity table: identifier -> new row (only changed rows)
    links: dict[str, Link]
    #: (anonymous key, customer key): the anonymous profile and journey state fold into the customer
    merges: list[tuple[str, str]]
    #: review records: an identifier claimed by a customer other than its owner
    conflicts: list[dict[str, Any]]


def identifier(kind: str, value: str) -> str:
    return f"{kind}:{value}"


EMAIL_HASH = "email_hash"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def hash_email(address: str) -> str:
    """What an SDK sends instead of an address: SHA-256 (hex) of it trimmed and lower-cased."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def email_key(value: str) -> str:
    """The identity-key value of what a producer sent as ``email_hash`` (see the module doc)."""
    text = value.strip()
    if len(text) == 64 and _HEX_DIGITS.issuperset(text):
        return text.lower()
    # Rather than refusing it: an SDK that sent the address where the hash belongs still links
    # its customer (to the hashed form other sources send), and the address is not kept.
    return hash_email(text)


PHONE_HASH = "phone_hash"
_PHONE_CHARS = frozenset("0123456789+-.() ")


def hash_phone(number: str) -> str:
    """SHA-256 (hex) of a phone number reduced to ``+`` and its digits (``+44 20 7946-0000``
    and ``+442079460000`` are one number)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return hashlib.sha256(f"+{digits}".encode()).hexdigest()


def phone_key(value: str) -> str:
    """The identity-key value of what a producer sent as ``phone_hash``: a SHA-256 (64 hex
    digits) as it is; a plain phone number (what an SDK sent by mistake) hashed, so that it is
    never a key; anything else (another hash) as sent."""
    text = value.strip()
    if len(text) == 64 and _HEX_DIGITS.issuperset(text):
        return text.lower()
    if _PHONE_CHARS.issuperset(text) and sum(ch.isdigit() for ch in text) >= 6:
        return hash_phone(text)
    return text


def identifiers_of(event: Mapping[str, Any], config: IdentityConfig) -> list[str]:
    """The event's identifiers that resolve, in priority order (look these up for ``resolve``)."""
    anonymous = event.get("anonymous_id")
    context = event.get("context")
    extra = context.get("identifiers") if isinstance(context, dict) else None
    if not isinstance(extra, dict) or not extra:
        return [f"{ANONYMOUS}:{anonymous}"] if anonymous else []
    found = []
    for kind in config.priority:
        value = anonymous if kind == ANONYMOUS else extra.get(kind)
        if kind == EMAIL_HASH and isinstance(value, str):
            value = email_key(value) if value.strip() else None
        elif kind == PHONE_HASH and isinstance(value, str):
            value = phone_key(value) if value.strip() else None
        if isinstance(value, str) and value:
            found.append(f"{kind}:{value}")
    return found


def resolve(
    event: Mapping[str, Any], links: Mapping[str, Link], config: IdentityConfig
) -> Resolution:
    """Resolve one normalised event against the rows of its identifiers (see the module doc)."""
    ids = identifiers_of(event, config)
    customer = event.get("customer_id")
    via = "customer_id"
    if customer is None:
        for ident in ids:
            row = links.get(ident)
            if row is not None:
                customer = row["c"]
                via = ident
                break
        else:  # nobody known: the event stays under its anonymous id
            return Resolution(event["anonymous_id"], {}, [], [])
    new_links: dict[str, Link] = {}
    merges: list[tuple[str, str]] = []
    conflicts: list[dict[str, Any]] = []
    for ident in ids:
        row = links.get(ident)
        if row is None:
            new_links[ident] = {"c": customer}
            if ident.startswith(_ANONYMOUS_PREFIX):
                anonymous = ident[len(_ANONYMOUS_PREFIX) :]
                if anonymous != customer:  # a producer reusing one id for both: nothing to fold
                    merges.append((anonymous, customer))
            continue
        owner = row["c"]
        if owner == customer:
            continue
        seen = row.get("x") or []
        if customer in seen:
            continue  # already sent for review
        conflicts.append(_review(event, ident, customer, owner, via))
        if len(seen) < MAX_REMEMBERED:
            new_links[ident] = {**row, "x": [*seen, customer]}
    return Resolution(customer, new_links, merges, conflicts)


def _review(
    event: Mapping[str, Any], ident: str, claimant: str, owner: str, via: str
) -> dict[str, Any]:
    """The review-topic record: both customers, the identifier and the event that claimed it."""
    return {
        "identifier": ident,
        "customer_id": owner,
        "claimed_by": claimant,
        "event_id": event["event_id"],
        "event_type": event["type"],
        "timestamp": event["timestamp"],
        "claimed_via": via,  # "customer_id", or the identifier that resolved the event
    }


class LinkResult(NamedTuple):
    #: the identifier's row after the claim (None: it stays unowned)
    row: Link | None
    #: whether the row changed (write it back)
    changed: bool
    #: (anonymous key, customer key) when this claim linked an anonymous id: fold it in now
    merge: tuple[str, str] | None
    #: the review record when another customer owns the identifier
    conflict: dict[str, Any] | None


def apply_link(
    row: Link | None, ident: str, customer: str, event: Mapping[str, Any], via: str = "customer_id"
) -> LinkResult:
    """Claim ``ident`` for ``customer`` where its row lives (the streaming shell's single writer).

    ``resolve`` decides from rows read earlier; the claim is re-checked against the row as it is
    now, so two customers racing for one identifier cannot both win: the first claim processed
    links it, the second is a conflict (same rules as ``resolve``, for one identifier).
    """
    if row is None:
        merge = None
        if ident.startswith(_ANONYMOUS_PREFIX):
            anonymous = ident[len(_ANONYMOUS_PREFIX) :]
            if anonymous != customer:
                merge = (anonymous, customer)
        return LinkResult({"c": customer}, True, merge, None)
    owner = row["c"]
    seen = row.get("x") or []
    if owner == customer or customer in seen:
        return LinkResult(row, False, None, None)
    conflict = _review(event, ident, customer, owner, via)
    if len(seen) >= MAX_REMEMBERED:
        return LinkResult(row, False, None, conflict)
    return LinkResult({**row, "x": [*seen, customer]}, True, None, conflict)
