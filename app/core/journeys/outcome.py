"""What one call of the engine produced, for the shell (or replay) to publish and count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# transition kinds
ENTERED = "entered"
GOAL = "goal"  # the goal was reached (the entry ends)
EXITED = "exited"  # an exit_on event ended the entry
COMPLETED = "completed"  # the entry walked off its last step or reached `end`
ORPHANED = "orphaned"  # its version is no longer loaded: ended without running
ABORTED = "aborted"  # ran more steps in one moment than any sane journey (a loop)
MERGED = "merged"  # an anonymous visitor's entry ended: the linked customer was already in it


class Transition(NamedTuple):
    """A change in an entry's life, for metrics (entries, conversions, control-group goals)."""

    time: int  # epoch ms
    journey: str
    version: int
    entry: int
    kind: str
    control: bool


@dataclass(slots=True)
class Outcome:
    #: action records to emit, one per send that passed every policy
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: suppressed and held-out sends: the action record plus ``decision`` and ``reason``
    decisions: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    #: events dropped as copies of one already handled (core/duplicates.py)
    duplicates: int = 0

    def extend(self, other: Outcome) -> None:
        self.actions.extend(other.actions)
        self.decisions.extend(other.decisions)
        self.transitions.extend(other.transitions)
        self.duplicates += other.duplicates
