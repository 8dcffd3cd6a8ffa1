"""Business policies compiled from ``policies.yaml`` (or none: consent still applies).

The checks a send passes, in the spec's order: consent (and unsubscribe), reachability (where
the policies declare the address a channel needs), category suppression, quiet hours,
frequency caps. The first three depend only on the customer at that moment; the caps depend on
the sends emitted before, so they are applied to a moment's collected sends in arbitration order
(see ``arbitration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.journeys.cel_program import Expr, compile_optional
from app.core.journeys.quiet_hours import QuietHours
from app.core.timeutil import parse_duration

#: owner name under which failing policy expressions are counted
POLICIES_OWNER = "(policies)"

FREQUENCY_CAPS = "frequency_caps"
QUIET_HOURS = "quiet_hours"
#: consent modes: opt_out sends unless the customer said no (the default), opt_in only when
#: the customer said yes
OPT_IN = "opt_in"
OPT_OUT = "opt_out"
#: a consent mode for every channel not named
ANY_CHANNEL = "any"


@dataclass(slots=True, frozen=True)
class Category:
    suppress_when: Expr | None
    bypass_caps: bool
    bypass_quiet: bool


_NO_CATEGORY = Category(None, False, False)


@dataclass(slots=True, frozen=True)
class Cap:
    channel: str  # a channel, or "any"
    max: int
    per: int  # ms


class Policies:
    __slots__ = (
        "caps",
        "categories",
        "control_categories",
        "control_share",
        "opt_in_sends",
        "quiet",
        "reachability",
        "window",
    )

    def __init__(self, raw: dict[str, Any] | None) -> None:
        raw = raw or {}
        self.caps = tuple(
            Cap(str(c["channel"]), int(c["max"]), parse_duration(c["per"]))
            for c in raw.get("frequency_caps") or ()
        )
        #: how far back emitted sends must be remembered for the caps
        self.window = max((c.per for c in self.caps), default=0)
        q = raw.get("quiet_hours")
        self.quiet = (
            QuietHours(q["start"], q["end"], q.get("default_timezone"), q.get("action") or "defer")
            if q
            else None
        )
        categories = {}
        for name, body in (raw.get("categories") or {}).items():
            body = body or {}
            bypass = set(body.get("bypass") or ())
            categories[name] = Category(
                suppress_when=compile_optional(body.get("suppress_when"), POLICIES_OWNER),
                bypass_caps=FREQUENCY_CAPS in bypass,
                bypass_quiet=QUIET_HOURS in bypass,
            )
        self.categories = categories
        #: (channel, category) pairs whose sends need an explicit grant (``opt_in``)
        self.opt_in_sends = _opt_in_sends(raw)
        #: channel -> the profile attributes any one of which addresses a send on it
        self.reachability = _reachability(raw)
        control = raw.get("global_control") or {}
        #: the global control group: this share of customers gets no send of these categories
        self.control_share = float(control.get("share") or 0.0)
        self.control_categories = frozenset(control.get("categories") or ("promotional",))

    def opt_in(self, channel: str, category: str) -> bool:
        """Whether a send on ``channel`` of ``category`` needs ``profile.consent[channel]``
        to be true (opt-in) rather than only not false (opt-out)."""
        return (channel, category) in self.opt_in_sends

    def unreachable(self, channel: str, attributes: dict[str, Any], data: Any) -> bool:
        """Whether a send on ``channel`` has no address: none of the attributes the policies
        name for it is set in the profile (or in the step's ``data``, which a sink reads too)."""
        names = self.reachability.get(channel)
        if not names:
            return False
        for name in names:
            if attributes.get(name) or (type(data) is dict and data.get(name)):
                return False
        return True

    def category(self, name: str) -> Category:
        return self.categories.get(name, _NO_CATEGORY)

    @property
    def exprs(self) -> list[Expr]:
        return [c.suppress_when for c in self.categories.values() if c.suppress_when is not None]

    def capped(self, sent: list[list[Any]], channel: str, now: int) -> bool:
        """Whether one more emitted send on ``channel`` at ``now`` would break a cap.

        ``sent`` holds ``[time, channel]`` of the sends emitted so far; a cap counts those in
        ``(now - per, now]``.
        """
        for cap in self.caps:
            if cap.channel != "any" and cap.channel != channel:
                continue
            low = now - cap.per
            count = 0
            for ts, ch in sent:
                if low < ts <= now and (cap.channel == "any" or ch == channel):
                    count += 1
            if count >= cap.max:
                return True
        return False


CHANNELS = ("email", "sms", "push", "webhook", "in_app", "agent")
CATEGORIES = ("promotional", "transactional", "service")


def _reachability(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """``reachability: {CHANNEL: ATTRIBUTE | [ATTRIBUTE, ...]}``: the profile attributes a
    send on that channel is addressed by. Channels not named need none (an SMS or push provider
    addressed by customer id, a webhook, a live agent); without the block nothing is checked,
    as the spec's default rule says."""
    table = raw.get("reachability") or {}
    return {
        str(channel): (names,) if isinstance(names, str) else tuple(str(n) for n in names)
        for channel, names in table.items()
        if names
    }


def _opt_in_sends(raw: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """Consent modes: ``consent: {CHANNEL|any: MODE}`` for every category, overridden per
    category by ``categories.CATEGORY.consent: {CHANNEL|any: MODE}``; a named channel wins over
    ``any``; without either, opt_out."""

    def modes(table: dict[str, Any] | None) -> dict[str, str]:
        table = table or {}
        default = table.get(ANY_CHANNEL)
        return {ch: table[ch] for ch in CHANNELS if ch in table} | (
            {ch: default for ch in CHANNELS if ch not in table} if default else {}
        )

    everywhere = modes(raw.get("consent"))
    found: set[tuple[str, str]] = set()
    categories = raw.get("categories") or {}
    for category in CATEGORIES:
        body = categories.get(category) or {}
        mode = everywhere | modes(body.get("consent"))
        found.update((ch, category) for ch, m in mode.items() if m == OPT_IN)
    return frozenset(found)
