"""Load and validate journey definitions and policies: the engine's only way in.

``load_journeys(dir)`` reads every ``*.yaml`` / ``*.yml`` file directly inside ``dir`` (sorted by
name; the ``schema/`` folder and dotfiles are never read), checks each against the published JSON
Schema and the semantic rules, checks that journey ids are unique across the folder, and returns
the journeys with defaults applied. Any problem in any file raises one :class:`DefinitionError`
listing all of them. This runs at start-up and in tooling, never per event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.journeys.defaults import (
    default_policies,
    journey_with_defaults,
    policies_with_defaults,
)
from app.core.journeys.problems import WARNING, DefinitionError, DefinitionProblem, format_path
from app.core.journeys.schema_check import schema_problems
from app.core.journeys.semantics import (
    journey_semantic_problems,
    journey_semantic_warnings,
    policies_semantic_problems,
)
from app.core.journeys.yaml_source import YamlDocument, read_yaml

YAML_SUFFIXES = (".yaml", ".yml")


def validate_journey(doc: Any, source: str) -> list[DefinitionProblem]:
    """Every problem of one journey document (already parsed); empty if it is valid."""
    return _journey_problems(doc, source, YamlDocument(doc))


def validate_policies(doc: Any, source: str) -> list[DefinitionProblem]:
    """Every problem of one policies document (already parsed); empty if it is valid."""
    return _policies_problems(doc, source, YamlDocument(doc))


def check_journey_file(path: str | Path) -> tuple[dict[str, Any] | None, list[DefinitionProblem]]:
    """Read and validate one journey file: (journey with defaults or None, problems).

    The journey is None when any problem is an error; warnings alone leave it usable.
    """
    source = str(path)
    parsed = _read(Path(path), source)
    if parsed.data is None:
        return None, parsed.problems
    problems = parsed.problems + _journey_problems(parsed.data, source, parsed)
    if any(p.is_error for p in problems):
        return None, problems
    return journey_with_defaults(parsed.data, source), problems


def load_journey_file(path: str | Path) -> dict[str, Any]:
    """One valid journey with defaults applied; raises :class:`DefinitionError` on errors."""
    journey, problems = check_journey_file(path)
    if journey is None:
        raise DefinitionError(problems)
    return journey


def journey_files(directory: str | Path) -> list[Path]:
    """The journey files of a folder: ``*.yaml`` / ``*.yml`` directly inside it, by name."""
    folder = Path(directory)
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix in YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def check_journeys(directory: str | Path) -> tuple[list[dict[str, Any]], list[DefinitionProblem]]:
    """Validate a whole folder: (valid journeys, every problem of every file)."""
    folder = Path(directory)
    if not folder.is_dir():
        return [], [DefinitionProblem(str(folder), "", "not a directory")]
    journeys: list[dict[str, Any]] = []
    problems: list[DefinitionProblem] = []
    first_file: dict[str, str] = {}
    for path in journey_files(folder):
        journey, found = check_journey_file(path)
        problems.extend(found)
        doc_id, line = _id_of(path)
        if isinstance(doc_id, str):
            if doc_id in first_file:
                message = f"duplicate journey id {doc_id!r} (also in {first_file[doc_id]})"
                problems.append(DefinitionProblem(str(path), "id", message, line))
                continue
            first_file[doc_id] = str(path)
        if journey is not None:
            journeys.append(journey)
    return journeys, problems


def load_journeys(
    directory: str | Path, warnings: list[DefinitionProblem] | None = None
) -> list[dict[str, Any]]:
    """Every journey of a folder, validated, defaults applied; raises :class:`DefinitionError`
    when any file has an error. Warnings (allowed by the spec) are appended to ``warnings``."""
    journeys, problems = check_journeys(directory)
    if any(p.is_error for p in problems):
        raise DefinitionError([p for p in problems if p.is_error])
    if warnings is not None:
        warnings.extend(problems)
    return journeys


def load_policies(path: str | Path | None) -> dict[str, Any]:
    """The policies of ``path`` with defaults applied, or the defaults when ``path`` is None.

    An empty file means "no policies" (the defaults). Raises :class:`DefinitionError`.
    """
    if path is None:
        return default_policies()
    source = str(path)
    parsed = _read(Path(path), source, empty_ok=True)
    problems = list(parsed.problems)
    if not problems:
        data = {} if parsed.data is None else parsed.data
        problems = _policies_problems(data, source, parsed)
        if not problems:
            return policies_with_defaults(data)
    raise DefinitionError(problems)


# -- internals --------------------------------------------------------------------------------


def _read(path: Path, source: str, empty_ok: bool = False) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return YamlDocument(None, [DefinitionProblem(source, "", "file not found")])
    except (OSError, UnicodeDecodeError) as exc:
        return YamlDocument(None, [DefinitionProblem(source, "", f"cannot read file: {exc}")])
    parsed = read_yaml(text, source)
    if (
        empty_ok
        and parsed.data is None
        and [p.message for p in parsed.problems] == ["empty document"]
    ):
        parsed.problems = []
    return parsed


def _journey_problems(doc: Any, source: str, parsed: YamlDocument) -> list[DefinitionProblem]:
    problems = schema_problems(doc, "journey", source, parsed.line_of)
    for path, message in journey_semantic_problems(doc):
        problems.append(DefinitionProblem(source, format_path(path), message, parsed.line_of(path)))
    for path, message in journey_semantic_warnings(doc):
        line = parsed.line_of(path)
        problems.append(DefinitionProblem(source, format_path(path), message, line, WARNING))
    return _ordered(problems)


def _policies_problems(doc: Any, source: str, parsed: YamlDocument) -> list[DefinitionProblem]:
    problems = schema_problems(doc, "policies", source, parsed.line_of)
    for path, message in policies_semantic_problems(doc):
        problems.append(DefinitionProblem(source, format_path(path), message, parsed.line_of(path)))
    return _ordered(problems)


def _ordered(problems: list[DefinitionProblem]) -> list[DefinitionProblem]:
    """By line where known (the order an author reads the file); stable otherwise."""
    return sorted(problems, key=lambda p: p.line or 0)


def _id_of(path: Path) -> tuple[Any, int | None]:
    """The id a file declares (valid or not, so duplicates are always reported) and its line."""
    parsed = _read(path, str(path))
    if not isinstance(parsed.data, dict):
        return None, None
    return parsed.data.get("id"), parsed.line_of(("id",))
