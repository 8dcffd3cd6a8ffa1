"""What one call of the engine produced, for the shell (or replay) to publish and count.

Besides the actions and decisions, every call returns the *outcome records* of what happened to
the entries it touched: the life of each entry, the same live (topic ``segue.outcomes``) and in
replay (``--outcomes FILE``), so that an analyst can count entries, conversions against the
control group, funnels and times without joining files by hand. One record format
(``topics/schemas/outcome.schema.json``; docs/analytics.md) with these kinds:

- ``entered``: an entry started (``trigger_event_id``, ``trigger_type``; ``control``);
- ``step``: a step was reached (``step_kind``; a split's ``variant`` is on it);
- ``sent`` / ``suppressed`` / ``held_out``: a send passed every policy and was emitted, failed
  one (``reason``), or belongs to the control group (``reason``: ``holdout``); ``action_id``,
  ``channel``, ``template``;
- ``decided``: a ``decide`` step's choice: every option with its score (or not eligible) and
  ``choice`` (null when no option was eligible; an option without a channel is "do nothing");
- ``timed_out``: a ``wait_for`` ended by its timeout (the entry goes on);
- ``goal``: the goal was reached (``time_to_goal_ms``, ``event_id``); the entry ends;
- ``exited``: the entry ended otherwise than by walking off its steps (``reason``: ``exit_on``
  with ``event_type``, ``orphaned``, ``aborted`` or ``merged``);
- ``ended``: the entry walked off its last step or reached ``end``;
- ``rewarded``: an adaptive step's arm earned its reward (``arm``, ``reward``: ``goal`` or the
  event type, ``event_id``); at most once per choice (core/journeys/bandit.py). An adaptive
  split's ``step`` record and an adaptive ``decided`` record say how the arm was chosen
  (``adaptive``: ``exploit``, ``explore`` or ``holdout``).

Each entry ends exactly once, with ``goal``, ``exited`` or ``ended``. Every record carries
``customer_id``, ``journey``, ``journey_version``, ``entry``, ``step`` (null where none applies),
``event_time``, ``control``, ``variant`` (as the entry has it then) and ``outcome_id``, a stable
hash: the same input gives the same ids, and a reader drops a record it has already seen (live
output is at least once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

# outcome kinds
ENTERED = "entered"
STEP = "step"
SENT = "sent"
SUPPRESSED = "suppressed"
HELD_OUT = "held_out"
DECIDED = "decided"
TIMED_OUT = "timed_out"
GOAL = "goal"
EXITED = "exited"
ENDED = "ended"
REWARDED = "rewarded"
KINDS = (
    ENTERED,
    STEP,
    SENT,
    SUPPRESSED,
    HELD_OUT,
    DECIDED,
    TIMED_OUT,
    GOAL,
    EXITED,
    ENDED,
    REWARDED,
)
#: the kinds that end an entry
ENDINGS = (GOAL, EXITED, ENDED)

# reasons an entry exits (``exited.reason``)
EXIT_ON = "exit_on"  # an exit_on event
ORPHANED = "orphaned"  # its version is no longer loaded: ended without running
ABORTED = "aborted"  # ran more steps in one moment than any sane journey (a loop)
MERGED = "merged"  # an anonymous visitor's entry ended: the linked customer was already in it


def outcome_id(
    journey: str, version: int, customer: str, entry: int, kind: str, step: str | None, *rest: Any
) -> str:
    """First 32 hex digits of the sha256 of the record's identity, as ``action_id`` is built
    (ids and numbers joined by ``:``; journey and step ids cannot contain one)."""
    text = f"{journey}:{version}:{customer}:{entry}:{kind}:{step or ''}"
    if rest:
        text += ":" + ":".join(map(str, rest))
    return sha256(text.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Outcome:
    #: action records to emit, one per send that passed every policy
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: suppressed and held-out sends: the action record plus ``decision`` and ``reason``
    decisions: list[dict[str, Any]] = field(default_factory=list)
    #: outcome records, in the order things happened (see the module docstring)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    #: events dropped as copies of one already handled (core/duplicates.py)
    duplicates: int = 0

    def extend(self, other: Outcome) -> None:
        self.actions.extend(other.actions)
        self.decisions.extend(other.decisions)
        self.outcomes.extend(other.outcomes)
        self.duplicates += other.duplicates


def outcome_record(
    kind: str,
    customer: str,
    journey: str,
    entry: dict[str, Any],
    time_ms: int,
    time_text: str,
    step: str | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    """One outcome record of ``entry`` (the engine's entry state) at ``time_ms`` (formatted as
    ``time_text``); ``repeat`` counts the same (kind, step) earlier in the same moment (a loop)."""
    version, number = entry["v"], entry["n"]
    # outcome_id(journey, version, customer, number, kind, step, time_ms[, repeat]), inline:
    # one record per step reached makes this the core's most frequent hash
    text = f"{journey}:{version}:{customer}:{number}:{kind}:{step or ''}:{time_ms}"
    if repeat != 1:
        text += f":{repeat}"
    return {
        "outcome_id": sha256(text.encode()).hexdigest()[:32],
        "kind": kind,
        "customer_id": customer,
        "journey": journey,
        "journey_version": version,
        "entry": number,
        "step": step,
        "event_time": time_text,
        "control": entry["ho"],
        "variant": entry["var"],
    }
