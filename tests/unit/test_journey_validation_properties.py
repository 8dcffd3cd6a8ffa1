"""Property tests: validation never crashes, whatever it is given, and loops are always found."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.journeys import DefinitionProblem, load_journeys, validate_journey, validate_policies
from app.core.journeys.yaml_source import read_yaml
from app.paths import JOURNEYS_DIR
from app.pictures.mermaid import to_mermaid
from app.pictures.model import journey_picture
from app.pictures.svg import to_svg
from tests.unit.journey_cases import base

EXAMPLES = load_journeys(JOURNEYS_DIR)
FIELDS = [
    "id", "version", "trigger", "event", "when", "steps", "send", "wait", "wait_for", "branch",
    "split", "decide", "update", "set", "goto", "next", "on_event", "on_timeout", "timeout",
    "variant", "weight", "options", "value", "channel", "template", "data", "goal", "within",
    "exit_on", "reentry", "cooldown", "holdout", "category", "priority", "quiet_hours",
    "frequency_caps", "categories", "start", "end", "max", "per",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["end", "1h", "0s", "email", "first", "true", "((", "21:00", "x"]),
    st.text(max_size=8),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), children, max_size=5
        ),
    ),
    max_leaves=25,
)


def _all_problems(problems: list[DefinitionProblem]) -> None:
    assert all(isinstance(p, DefinitionProblem) and str(p) for p in problems)


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_any_document_gives_problems_not_exceptions(doc: Any) -> None:
    _all_problems(validate_journey(doc, "j.yaml"))
    _all_problems(validate_policies(doc, "p.yaml"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data(), TREES)
def test_a_damaged_example_gives_problems_not_exceptions(
    journey: dict[str, Any], data: st.DataObject, replacement: Any
) -> None:
    doc = copy.deepcopy({k: v for k, v in journey.items() if k != "source"})
    path = data.draw(st.sampled_from(_paths(doc)))
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = replacement
    problems = validate_journey(doc, "j.yaml")
    _all_problems(problems)
    if not problems:  # still valid: it can still be drawn
        picture = journey_picture(
            {**doc, "exit_on": doc.get("exit_on", []), "goal": doc.get("goal")}
        )
        assert to_mermaid(picture) and to_svg(picture)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"\n #?,.12")), max_size=60))
def test_any_text_reads_without_exceptions(text: str) -> None:
    read_yaml(text, "j.yaml")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=8),
    st.data(),
)
def test_a_loop_without_a_wait_is_always_reported(size: int, data: st.DataObject) -> None:
    """A chain of instant steps whose last one jumps back into the chain is always a loop."""
    steps: list[dict[str, Any]] = []
    for i in range(size):
        kind = data.draw(st.sampled_from(["send", "update", "decide"]))
        body: dict[str, Any] = {
            "send": {"channel": "email", "template": "t"},
            "update": {"set": {"n": "1"}},
            "decide": {"propensity": "intent", "options": [{"id": "o", "value": 1}]},
        }[kind]
        steps.append({"id": f"s{i}", kind: body})
    back_to = data.draw(st.integers(min_value=0, max_value=size - 1))
    steps[-1]["next"] = f"s{back_to}"
    doc = base()
    doc["steps"] = steps
    problems = validate_journey(doc, "j.yaml")
    assert [p.path for p in problems if "form a loop" in p.message] == [f"steps[{back_to}]"]
    # ... and a positive wait anywhere in the loop fixes it.
    pause_at = data.draw(st.integers(min_value=back_to, max_value=size - 1))
    steps.insert(
        pause_at + 1, {"id": "pause", "wait": "1m", "next": steps[pause_at].pop("next", None)}
    )
    if steps[pause_at + 1]["next"] is None:
        del steps[pause_at + 1]["next"]
    assert [p for p in validate_journey(doc, "j.yaml") if "form a loop" in p.message] == []
