"""Journeys: definitions (load, validate, draw) and the pure, deterministic engine that runs them.

Engine API: :class:`Engine` (``new_state``, ``handle_event``, ``advance``, ``next_due``,
``failures``) and :class:`Outcome`; see docs/engine.md for the decisions behind it.
"""

from app.core.journeys.definitions import (
    check_journey_file,
    check_journeys,
    journey_files,
    load_journey_file,
    load_journeys,
    load_policies,
    validate_journey,
    validate_policies,
)
from app.core.journeys.engine import Engine
from app.core.journeys.outcome import Outcome
from app.core.journeys.problems import DefinitionError, DefinitionProblem

__all__ = [
    "DefinitionError",
    "DefinitionProblem",
    "Engine",
    "Outcome",
    "check_journey_file",
    "check_journeys",
    "journey_files",
    "load_journey_file",
    "load_journeys",
    "load_policies",
    "validate_journey",
    "validate_policies",
]
