"""Journey definitions: load, validate and draw them (the engine lives beside this package)."""

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
from app.core.journeys.problems import DefinitionError, DefinitionProblem

__all__ = [
    "DefinitionError",
    "DefinitionProblem",
    "check_journey_file",
    "check_journeys",
    "journey_files",
    "load_journey_file",
    "load_journeys",
    "load_policies",
    "validate_journey",
    "validate_policies",
]
