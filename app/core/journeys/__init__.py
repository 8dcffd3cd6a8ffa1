"""Journeys: definitions compiled into a pure, deterministic engine, plus replay.

Public API: :class:`Engine` (``new_state``, ``handle_event``, ``advance``, ``next_due``,
``failures``) and :class:`Outcome`. See docs/engine.md for the decisions behind it.
"""

from app.core.journeys.engine import Engine
from app.core.journeys.outcome import Outcome, Transition

__all__ = ["Engine", "Outcome", "Transition"]
