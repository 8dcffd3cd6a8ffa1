"""Reading journey files and folders: YAML problems with lines, defaults, the folder rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.journeys import (
    DefinitionError,
    DefinitionProblem,
    check_journey_file,
    load_journey_file,
    load_journeys,
)
from tests.unit.journey_cases import base, write_doc, write_text

VALID = """\
id: tiny
version: 2
trigger:
  event: SignedUp
steps:
  - id: hello
    send: {channel: email, template: hello}
"""


def _only(problems: list[DefinitionProblem]) -> DefinitionProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_defaults_are_applied(tmp_path: Path) -> None:
    file = write_text(tmp_path, VALID)
    journey = load_journey_file(file)
    assert journey == {
        "id": "tiny",
        "version": 2,
        "description": None,
        "category": "promotional",
        "priority": 0,
        "trigger": {"event": "SignedUp", "when": None},
        "reentry": "after_exit",
        "exit_on": [],
        "goal": None,
        "holdout": 0.0,
        "steps": [{"id": "hello", "send": {"channel": "email", "template": "hello"}}],
        "source": str(file),
    }


def test_written_values_are_kept_and_durations_stay_strings(tmp_path: Path) -> None:
    doc = base()
    doc.update(
        description="d",
        category="service",
        priority=-5,
        reentry={"cooldown": "7d"},
        exit_on=[{"event": "Unsubscribed"}, {"event": "TicketOpened", "when": "true"}],
        goal={"event": "OrderPlaced", "within": "7d"},
        holdout=1,
    )
    journey = load_journey_file(write_doc(tmp_path, doc))
    assert journey["reentry"] == {"cooldown": "7d"}
    assert journey["exit_on"] == [
        {"event": "Unsubscribed", "when": None},
        {"event": "TicketOpened", "when": "true"},
    ]
    assert journey["goal"] == {"event": "OrderPlaced", "within": "7d", "when": None}
    assert journey["holdout"] == 1.0 and isinstance(journey["holdout"], float)
    assert (journey["category"], journey["priority"], journey["description"]) == (
        "service",
        -5,
        "d",
    )
    assert journey["steps"] == doc["steps"]


def test_duplicate_yaml_keys_are_reported_with_lines(tmp_path: Path) -> None:
    file = write_text(tmp_path, VALID.replace("version: 2\n", "version: 2\nversion: 3\n"))
    problem = _only(check_journey_file(file)[1])
    assert (problem.file, problem.path, problem.line) == (str(file), "version", 3)
    assert problem.message == "duplicate key 'version' (first at line 2)"


def test_duplicate_keys_inside_steps(tmp_path: Path) -> None:
    text = VALID.replace(
        "    send: {channel: email, template: hello}",
        "    send:\n      channel: email\n      template: a\n      template: b",
    )
    problem = _only(check_journey_file(write_text(tmp_path, text))[1])
    assert (problem.path, problem.line) == ("steps[0].send.template", 10)


def test_yaml_syntax_error_has_a_line_number(tmp_path: Path) -> None:
    text = VALID.replace("  event: SignedUp", "  event: [SignedUp")
    file = write_text(tmp_path, text)
    problem = _only(check_journey_file(file)[1])
    assert problem.path == ""
    assert problem.message.startswith("YAML syntax error")
    assert problem.line == 5
    assert str(problem).startswith(f"{file}: (root): YAML syntax error")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- id: a\n- id: b\n", "must be a mapping (got a list)"),
        ("just words\n", "must be a mapping (got string 'just words')"),
        ("42\n", "must be a mapping (got integer 42)"),
        ("", "empty document"),
        ("# only a comment\n", "empty document"),
    ],
)
def test_non_mapping_documents_are_reported(tmp_path: Path, text: str, message: str) -> None:
    problem = _only(check_journey_file(write_text(tmp_path, text))[1])
    assert (problem.path, problem.message) == ("", message)


def test_two_documents_in_one_file(tmp_path: Path) -> None:
    problem = _only(check_journey_file(write_text(tmp_path, VALID + "---\n" + VALID))[1])
    assert "more than one YAML document" in problem.message
    assert problem.line == 9


def test_non_string_keys_are_reported(tmp_path: Path) -> None:
    problem = _only(check_journey_file(write_text(tmp_path, VALID + "1: x\n"))[1])
    assert problem.message == "key '1' is not a string; quote it"


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    text = VALID + "description: !!python/object/apply:os.system ['true']\n"
    problem = _only(check_journey_file(write_text(tmp_path, text))[1])
    assert problem.message.startswith("YAML error: could not determine a constructor")


def test_unquoted_yes_becomes_a_boolean_and_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("  event: SignedUp", "  event: SignedUp\n  when: yes")
    problem = _only(check_journey_file(write_text(tmp_path, text))[1])
    assert (problem.path, problem.message) == (
        "trigger.when",
        "must be a string (got boolean true)",
    )


def test_missing_file(tmp_path: Path) -> None:
    problem = _only(check_journey_file(tmp_path / "nope.yaml")[1])
    assert problem.message == "file not found"


# --- folders -----------------------------------------------------------------------------------


def test_folder_is_read_sorted_and_only_yaml_directly_inside(tmp_path: Path) -> None:
    (tmp_path / "schema").mkdir()
    write_text(tmp_path / "schema", "not: [a journey", "broken.yaml")
    write_text(tmp_path, "not yaml at all: [", "notes.txt")
    write_text(tmp_path, "junk: [", ".hidden.yaml")
    write_text(tmp_path, VALID.replace("tiny", "zeta"), "b.yml")
    write_text(tmp_path, VALID.replace("tiny", "alpha"), "c.yaml")
    write_text(tmp_path, VALID, "a.yaml")
    assert [j["id"] for j in load_journeys(tmp_path)] == ["tiny", "zeta", "alpha"]


def test_duplicate_journey_ids_across_the_folder(tmp_path: Path) -> None:
    write_text(tmp_path, VALID, "a.yaml")
    second = write_text(tmp_path, VALID, "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_journeys(tmp_path)
    problem = _only(caught.value.problems)
    assert (problem.file, problem.path) == (str(second), "id")
    assert problem.message == f"duplicate journey id 'tiny' (also in {tmp_path / 'a.yaml'})"
    assert problem.line == 1


def test_duplicate_id_is_found_even_when_the_file_is_otherwise_invalid(tmp_path: Path) -> None:
    write_text(tmp_path, VALID, "a.yaml")
    write_text(tmp_path, VALID.replace("version: 2", "version: 0"), "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_journeys(tmp_path)
    assert sorted(p.path for p in caught.value.problems) == ["id", "version"]


def test_error_lists_every_problem_of_every_file_one_per_line(tmp_path: Path) -> None:
    a = write_text(tmp_path, VALID.replace("version: 2", "version: 0"), "a.yaml")
    b_text = VALID.replace("channel: email", "channel: fax").replace("tiny", "other")
    b = write_text(tmp_path, b_text, "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_journeys(tmp_path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0] == f"{a}: version: must be at least 1 (got integer 0) (line 2)"
    assert lines[1].startswith(f"{b}: steps[0].send.channel: must be one of")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not a directory"):
        load_journeys(tmp_path / "missing")


def test_empty_folder_loads_no_journeys(tmp_path: Path) -> None:
    assert load_journeys(tmp_path) == []


def test_loaded_journeys_validate_again_without_their_source() -> None:
    """The loader's output (nulls for absent options) is itself a valid journey document."""
    from app.core.journeys import validate_journey
    from app.paths import JOURNEYS_DIR

    for journey in load_journeys(JOURNEYS_DIR):
        doc = {k: v for k, v in journey.items() if k != "source"}
        assert validate_journey(doc, journey["source"]) == []


def test_a_branch_case_with_null_when_is_the_default(tmp_path: Path) -> None:
    doc = base()
    doc["steps"][1] = {
        "id": "second",
        "branch": [{"when": None, "goto": "third"}, {"when": "true", "goto": "end"}],
    }
    problem = _only(check_journey_file(write_doc(tmp_path, doc))[1])
    assert (problem.path, problem.message.split(";")[0]) == (
        "steps[1].branch[0]",
        "the default case (no `when`) must be the last case",
    )
