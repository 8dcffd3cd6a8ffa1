"""Duplicate events: a copy of an event the customer already had folds once.

Producers retry, so one event can reach Segue several times with the same ``event_id``. Folding
every copy would count an order twice (``counts``, ``lifetime_value``) and could step journeys
twice. So each customer's journey state remembers the ids of the events it handled, with their
event times, in ``seen`` (``{event_id: ms}``, in the order they were handled), and the engine
drops a copy before anything else happens (no fold, no timer, no step, no trigger, no action).

The rule, in event time only (no wall clock, so live and replay apply it alike):

- An event is a **duplicate** when the customer already handled an event with the same
  ``event_id`` whose time ``t`` lies in ``(T - window, T]``, where ``T`` is the later of the
  customer's newest event time (``profile.last_seen``) and the copy's own time.
- **The first copy handled wins**: live that is the first to arrive (partition order), in replay
  the first in (time, event_id) order (then by content, see ``replay.order_events``). A later
  copy is a duplicate whatever its own timestamp, an earlier one included, as long as the first
  is still remembered. Copies are expected to be identical (a retry sends the same envelope);
  when their times differ, live and replay may fold the event at different times (once each).
- A copy outside the window is a new event and counts again (at-least-once producers should
  not retry for longer than the window). So is an event that arrives later than the window
  behind the customer's newest: it is folded, and not remembered.
- At most ``max_ids`` ids are kept per customer: a customer with more events than that within
  the window forgets the oldest handled first, a tenth of the cap at once (a copy of one
  forgotten would then count again).

Defaults: a 24 h window (longer than any producer retry, Kafka's own ``delivery.timeout.ms``
is 2 min) and 1,000 ids (far more than a person's events in a day: the busiest customer of
bench/profile_bytes.py's 2 h of simulated traffic has about 200; a bot past it only loses the
dedup of its oldest ids). Each id costs its length plus 17 bytes of JSON in the stored state. Configured by ``SEGUE_DUPLICATE_WINDOW`` and
``SEGUE_DUPLICATE_MAX_IDS`` (app/settings.py), which the worker and ``segue replay`` both read;
a window of ``0s`` turns the rule off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 86_400_000

#: how long (event time) a customer's event ids are remembered
DEFAULT_WINDOW_MS = DAY_MS
#: how many event ids a customer's state keeps at most
DEFAULT_MAX_IDS = 1_000


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    window: int = DEFAULT_WINDOW_MS  # ms; 0 turns the rule off
    max_ids: int = DEFAULT_MAX_IDS
    #: the window is swept when the customer's time enters a new step (see ``repeats``)
    step: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.window < 0 or self.max_ids < 1:
            raise ValueError("the duplicate window must be >= 0 and max_ids >= 1")
        object.__setattr__(self, "step", max(1, self.window // 24))

    def repeats(self, seen: dict[str, int], event_id: str, ts: int, last_seen: int | None) -> bool:
        """Whether the event (``event_id`` at ``ts``) is a copy of one remembered in ``seen``;
        if it is not, it is remembered (``last_seen``: the customer's newest event time before
        it)."""
        first = seen.get(event_id)
        if last_seen is None:  # the customer's first event
            seen[event_id] = ts
            return False
        newest = ts if ts > last_seen else last_seen
        horizon = newest - self.window
        if first is not None:
            if first > horizon:
                return True
            del seen[event_id]  # an old copy out of the window: a new event, to the end
        elif ts <= horizon:
            return False  # late by more than the window: no copy of it can be caught
        seen[event_id] = ts
        # Forgetting is batched: it walks the dict from its front, and a dict whose front was
        # deleted from walks past the holes again each time. So the window is swept only when
        # the customer's time enters a new step (1/24 of the window) and its front has expired,
        # and the cap makes room for a tenth of it at once. Between sweeps an expired id may
        # stay a little (never counted: the time test above is exact), so the state holds at
        # most a step more than the window.
        if newest != last_seen:
            step = self.step
            if newest // step != last_seen // step:
                for oldest in seen.values():  # the front: the oldest handled
                    if oldest <= horizon:
                        self._forget(seen, horizon)
                    break
        if len(seen) > self.max_ids:
            self._forget(seen, horizon)
        return False

    def _forget(self, seen: dict[str, int], horizon: int) -> None:
        """Forget ids out of the window, and the oldest handled while over the cap (down to
        nine tenths of it, so that the cap is not met again at the very next event)."""
        keep = len(seen)
        if keep > self.max_ids:
            keep = self.max_ids - self.max_ids // 10
        over = len(seen) - keep
        stale = []
        # The front is the oldest handled (handling order is nearly time order); an expired id
        # behind a newer front waits for a later sweep.
        for event_id, t in seen.items():
            if t > horizon and over <= 0:
                break
            stale.append(event_id)
            over -= 1
        for event_id in stale:
            del seen[event_id]


def merge_seen(into: dict[str, int], other: dict[str, int]) -> None:
    """Identity linked two keys of one person: remember both sides' ids, oldest first, so a
    copy of an event the anonymous side had is a duplicate for the customer too. An id both
    sides had keeps the later time (remembered the longer); the cap applies at the next event."""
    both = dict(into)
    for event_id, ts in other.items():
        mine = both.get(event_id)
        if mine is None or ts > mine:
            both[event_id] = ts
    into.clear()
    into.update(sorted(both.items(), key=lambda item: (item[1], item[0])))
