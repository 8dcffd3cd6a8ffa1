"""One broken journey per validation rule: each must be reported with file, path and message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.journeys import check_journey_file, validate_journey
from tests.unit.journey_cases import base, write_doc

Mutation = Callable[[dict[str, Any]], None]


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _steps(*steps: dict[str, Any]) -> Mutation:
    return _set(("steps",), list(steps))


SEND = {"channel": "email", "template": "t"}

# (rule, mutation, expected path, fragment of the expected message)
CASES: list[tuple[str, Mutation, str, str]] = [
    # --- schema: top level
    ("id required", _delete(("id",)), "id", "required field is missing"),
    ("id pattern", _set(("id",), "Cart-Recovery"), "id", "lower-case identifier"),
    ("version required", _delete(("version",)), "version", "required field is missing"),
    ("version >= 1", _set(("version",), 0), "version", "must be at least 1"),
    ("version integer", _set(("version",), "3"), "version", "must be an integer"),
    ("version not bool", _set(("version",), True), "version", "must be an integer"),
    ("trigger required", _delete(("trigger",)), "trigger", "required field is missing"),
    ("steps required", _delete(("steps",)), "steps", "required field is missing"),
    ("category enum", _set(("category",), "promo"), "category", "did you mean 'promotional'"),
    ("priority integer", _set(("priority",), 1.5), "priority", "must be an integer"),
    ("unknown field", _set(("trigers",), {}), "trigers", "unknown field"),
    ("trigger event", _set(("trigger",), {"when": "true"}), "trigger.event", "required"),
    ("trigger when str", _set(("trigger", "when"), True), "trigger.when", "must be a string"),
    ("reentry enum", _set(("reentry",), "twice"), "reentry", "must be 'once', 'after_exit'"),
    (
        "reentry cooldown duration",
        _set(("reentry",), {"cooldown": "7 days"}),
        "reentry.cooldown",
        "must be a duration",
    ),
    ("reentry extra", _set(("reentry",), {"cooldown": "7d", "x": 1}), "reentry.x", "unknown"),
    ("holdout <= 1", _set(("holdout",), 1.5), "holdout", "must be at most 1"),
    ("holdout >= 0", _set(("holdout",), -0.1), "holdout", "must be at least 0"),
    ("exit_on list", _set(("exit_on",), {"event": "X"}), "exit_on", "must be a list"),
    ("exit_on event", _set(("exit_on",), [{"when": "true"}]), "exit_on[0].event", "required"),
    ("goal event", _set(("goal",), {"within": "1d"}), "goal.event", "required"),
    (
        "goal within duration",
        _set(("goal",), {"event": "OrderPlaced", "within": "1w"}),
        "goal.within",
        "must be a duration",
    ),
    ("steps not empty", _steps(), "steps", "must not be empty"),
    # --- schema: steps
    ("step needs a kind", _set(("steps", 1), {"id": "second"}), "steps[1]", "exactly one kind"),
    (
        "step has one kind",
        _set(("steps", 1), {"id": "second", "wait": "1h", "send": SEND}),
        "steps[1]",
        "this one has 2: send, wait",
    ),
    ("step id required", _delete(("steps", 0, "id")), "steps[0].id", "required field is missing"),
    ("step id pattern", _set(("steps", 0, "id"), "first step"), "steps[0].id", "1-64 letters"),
    ("step id not end", _set(("steps", 2, "id"), "end"), "steps[2].id", "reserved 'end'"),
    ("step unknown field", _set(("steps", 0, "sned"), {}), "steps[0].sned", "did you mean"),
    (
        "send channel enum",
        _set(("steps", 0, "send", "channel"), "fax"),
        "steps[0].send.channel",
        "must be one of 'email', 'sms', 'push', 'webhook', 'in_app', 'agent'",
    ),
    (
        "send template",
        _delete(("steps", 0, "send", "template")),
        "steps[0].send.template",
        "required",
    ),
    (
        "send data values are expressions or literals",
        _set(("steps", 0, "send", "data"), {"items": [1, 2]}),
        "steps[0].send.data.items",
        "must be a CEL expression (a string) or a literal number, boolean or null",
    ),
    ("wait duration", _set(("steps", 1, "wait"), "2 hours"), "steps[1].wait", "must be a duration"),
    ("wait unit", _set(("steps", 1, "wait"), "2w"), "steps[1].wait", "s, m, h or d"),
    (
        "wait_for timeout required",
        _set(("steps", 1), {"id": "second", "wait_for": {"event": "OrderPlaced"}}),
        "steps[1].wait_for.timeout",
        "required",
    ),
    (
        "branch case goto",
        _set(("steps", 1), {"id": "second", "branch": [{"when": "true"}]}),
        "steps[1].branch[0].goto",
        "required",
    ),
    (
        "split weight positive",
        _set(
            ("steps", 1),
            {"id": "second", "split": [{"variant": "A", "weight": 0, "goto": "third"}]},
        ),
        "steps[1].split",
        "add up to more than 0",
    ),
    (
        "split weight not negative",
        _set(
            ("steps", 1),
            {"id": "second", "split": [{"variant": "A", "weight": -2, "goto": "third"}]},
        ),
        "steps[1].split[0].weight",
        "0 or more",
    ),
    (
        "decide propensity",
        _set(
            ("steps", 1),
            {
                "id": "second",
                "decide": {"propensity": "intnet", "options": [{"id": "a", "value": 1}]},
            },
        ),
        "steps[1].decide.propensity",
        "did you mean 'intent'",
    ),
    (
        "decide option channel",
        _set(
            ("steps", 1),
            {
                "id": "second",
                "decide": {
                    "propensity": "intent",
                    "options": [{"id": "a", "value": 1, "channel": "fax"}],
                },
            },
        ),
        "steps[1].decide.options[0].channel",
        "must be one of",
    ),
    (
        "update attribute name",
        _set(("steps", 1), {"id": "second", "update": {"set": {"bad name": "1"}}}),
        "steps[1].update.set['bad name']",
        "invalid name",
    ),
    (
        "update not empty",
        _set(("steps", 1), {"id": "second", "update": {"set": {}}}),
        "steps[1].update.set",
        "must not be empty",
    ),
    # --- semantics: ids and references
    (
        "unique step ids",
        _set(("steps", 2, "id"), "first"),
        "steps[2].id",
        "duplicate step id 'first' (also steps[0])",
    ),
    (
        "next names a step",
        _set(("steps", 0, "next"), "thrid"),
        "steps[0].next",
        "unknown step 'thrid': expected a step id of this journey or 'end'; did you mean 'third'?",
    ),
    (
        "branch goto names a step",
        _set(("steps", 1), {"id": "second", "branch": [{"goto": "nowhere"}]}),
        "steps[1].branch[0].goto",
        "unknown step 'nowhere'",
    ),
    (
        "split goto names a step",
        _set(
            ("steps", 1),
            {"id": "second", "split": [{"variant": "A", "weight": 1, "goto": "nowhere"}]},
        ),
        "steps[1].split[0].goto",
        "unknown step 'nowhere'",
    ),
    (
        "on_event names a step",
        _set(
            ("steps", 1),
            {"id": "second", "wait_for": {"event": "X", "timeout": "1h", "on_event": "nope"}},
        ),
        "steps[1].wait_for.on_event",
        "unknown step 'nope'",
    ),
    (
        "on_timeout names a step",
        _set(
            ("steps", 1),
            {"id": "second", "wait_for": {"event": "X", "timeout": "1h", "on_timeout": "nope"}},
        ),
        "steps[1].wait_for.on_timeout",
        "unknown step 'nope'",
    ),
    # --- semantics: cases
    (
        "branch default last",
        _set(
            ("steps", 1),
            {"id": "second", "branch": [{"goto": "third"}, {"when": "true", "goto": "end"}]},
        ),
        "steps[1].branch[0]",
        "the default case (no `when`) must be the last case",
    ),
    (
        "branch one default",
        _set(("steps", 1), {"id": "second", "branch": [{"goto": "third"}, {"goto": "end"}]}),
        "steps[1].branch[1]",
        "a second default case",
    ),
    (
        "split variants unique",
        _set(
            ("steps", 1),
            {
                "id": "second",
                "split": [
                    {"variant": "A", "weight": 1, "goto": "third"},
                    {"variant": "A", "weight": 1, "goto": "end"},
                ],
            },
        ),
        "steps[1].split[1].variant",
        "duplicate variant 'A' (also steps[1].split[0])",
    ),
    (
        "decide option ids unique",
        _set(
            ("steps", 1),
            {
                "id": "second",
                "decide": {
                    "propensity": "churn",
                    "options": [{"id": "a", "value": 1}, {"id": "a", "value": 2}],
                },
            },
        ),
        "steps[1].decide.options[1].id",
        "duplicate option id 'a'",
    ),
    # --- semantics: graph
    (
        "no unreachable step",
        _set(("steps", 0, "next"), "third"),
        "steps[1]",
        "step 'second' can never be reached from the first step",
    ),
    (
        "no loop without a wait",
        _steps(
            {"id": "a", "send": SEND},
            {"id": "b", "branch": [{"when": "scores.churn > 0.5", "goto": "a"}]},
        ),
        "steps[0]",
        "steps a -> b -> a form a loop without a wait or wait_for",
    ),
    (
        "a zero wait does not break a loop",
        _steps({"id": "a", "send": SEND}, {"id": "b", "wait": "0s", "next": "a"}),
        "steps[0]",
        "form a loop",
    ),
    (
        "self loop",
        _steps({"id": "a", "update": {"set": {"n": "1"}}, "next": "a"}),
        "steps[0]",
        "steps a -> a form a loop",
    ),
    # --- template names: plain names inside templates/, never paths
    (
        "template is a plain name, not a relative path",
        _set(("steps", 0, "send", "template"), "../../etc/passwd"),
        "steps[0].send.template",
        "must be a plain template name",
    ),
    (
        "template is a plain name, not an absolute path",
        _set(("steps", 0, "send", "template"), "/etc/passwd"),
        "steps[0].send.template",
        "must be a plain template name",
    ),
    (
        "template is a plain name, not a sub-folder",
        _set(("steps", 2, "send", "template"), "emails\\welcome"),
        "steps[2].send.template",
        "must be a plain template name",
    ),
    (
        "decide option template is a plain name",
        _set(
            ("steps", 1),
            {
                "id": "second",
                "decide": {
                    "propensity": "churn",
                    "options": [{"id": "a", "value": 1, "channel": "email", "template": "a/../b"}],
                },
            },
        ),
        "steps[1].decide.options[0].template",
        "must be a plain template name",
    ),
    # --- expressions call the runtime's functions only
    (
        "expressions call known functions only",
        _set(("trigger", "when"), "max(event.properties.a, 1) > 0"),
        "trigger.when",
        "expression calls unknown function(s) max",
    ),
]


GRAPH_RULES = {
    "no unreachable step",
    "no loop without a wait",
    "a zero wait does not break a loop",
    "self loop",
}


@pytest.mark.parametrize(("rule", "mutate", "path", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_names_file_path_and_problem(
    tmp_path: Path, rule: str, mutate: Mutation, path: str, fragment: str
) -> None:
    doc = base()
    mutate(doc)
    file = write_doc(tmp_path, doc)
    journey, problems = check_journey_file(file)
    matching = [p for p in problems if p.path == path and fragment in p.message]
    assert matching, f"{rule}: expected {path}: ...{fragment}... in {[str(p) for p in problems]}"
    # the graph rules (unreachable steps, loops without a wait) are warnings: the spec allows
    # such journeys, so they still load; every other rule is an error
    graph_rule = rule in GRAPH_RULES
    assert matching[0].is_error is not graph_rule
    assert (journey is None) is not graph_rule
    assert all(p.file == str(file) for p in problems)
    assert matching[0].line is not None  # read from a file: the line is known


# Every place an expression may appear, broken in turn.
EXPRESSION_SITES: list[tuple[Mutation, str]] = [
    (_set(("trigger", "when"), "event.properties.x >="), "trigger.when"),
    (_set(("exit_on",), [{"event": "X", "when": "(("}]), "exit_on[0].when"),
    (_set(("goal",), {"event": "X", "within": "1d", "when": "1 +"}), "goal.when"),
    (
        _set(("steps", 0, "send", "data"), {"amount": "event.properties.amount *"}),
        "steps[0].send.data.amount",
    ),
    (
        _set(
            ("steps", 1),
            {"id": "second", "wait_for": {"event": "X", "when": "a ==", "timeout": "1h"}},
        ),
        "steps[1].wait_for.when",
    ),
    (
        _set(
            ("steps", 1), {"id": "second", "branch": [{"when": "scores.churn >", "goto": "third"}]}
        ),
        "steps[1].branch[0].when",
    ),
    (
        _set(
            ("steps", 1),
            {
                "id": "second",
                "decide": {
                    "propensity": "churn",
                    "options": [{"id": "a", "value": 1, "when": "!"}],
                },
            },
        ),
        "steps[1].decide.options[0].when",
    ),
    (
        _set(("steps", 1), {"id": "second", "update": {"set": {"tier": "'gold"}}}),
        "steps[1].update.set.tier",
    ),
]


@pytest.mark.parametrize(("mutate", "path"), EXPRESSION_SITES, ids=[s[1] for s in EXPRESSION_SITES])
def test_every_expression_must_compile(mutate: Mutation, path: str) -> None:
    doc = base()
    mutate(doc)
    problems = validate_journey(doc, "j.yaml")
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        (path, "expression does not compile")
    ]
    assert "column" in problems[0].message  # CEL's position, condensed to one line


def test_unknown_variable_is_reported() -> None:
    doc = base()
    doc["trigger"]["when"] = "evnt.properties.cart_value > 10.0"
    problems = validate_journey(doc, "j.yaml")
    assert [(p.path, p.message) for p in problems] == [
        (
            "trigger.when",
            "expression uses unknown variable(s) evnt; available: entry, event, now, profile, scores",
        )
    ]


def test_unknown_functions_are_reported_with_a_hint() -> None:
    doc = base()
    doc["steps"][1] = {
        "id": "second",
        "branch": [{"when": "event.properties.name.startswith('A') || foo(1)", "goto": "third"}],
    }
    problems = validate_journey(doc, "j.yaml")
    assert [(p.path, p.message) for p in problems] == [
        (
            "steps[1].branch[0].when",
            "expression calls unknown function(s) foo, startswith (did you mean startsWith?); "
            "the functions CEL provides here are listed in docs/journeys.md",
        )
    ]


def test_a_policy_expression_is_held_to_the_same_functions() -> None:
    from app.core.journeys import validate_policies

    doc = {"categories": {"promotional": {"suppress_when": "lowerAscii(profile.id) == 'x'"}}}
    problems = validate_policies(doc, "p.yaml")
    assert [p.path for p in problems] == ["categories.promotional.suppress_when"]
    assert "unknown function(s) lowerAscii" in problems[0].message


# One example per function validation allows: each must evaluate in the runtime the engine uses,
# so the allowed set cannot drift from what actually works.
FUNCTION_EXAMPLES = {
    "size": "size('ab') == 2 && [1].size() == 1",
    "contains": "'abc'.contains('b')",
    "startsWith": "'abc'.startsWith('a')",
    "endsWith": "'abc'.endsWith('c')",
    "matches": "'abc'.matches('^a')",
    "int": "int(1.5) == 1",
    "uint": "uint(1) == 1u",
    "double": "double(1) == 1.0",
    "string": "string(1) == '1'",
    "bytes": "bytes('a') == b'a'",
    "dyn": "dyn(1) == 1",
    "type": "type(1) == int",
    "duration": "duration('1h') > duration('1s')",
    "timestamp": "timestamp('2026-03-02T10:20:30.400Z') > timestamp('2026-01-01T00:00:00Z')",
    "getFullYear": "timestamp('2026-03-02T10:20:30.400Z').getFullYear() == 2026",
    "getMonth": "timestamp('2026-03-02T10:20:30.400Z').getMonth() == 2",
    "getDayOfYear": "timestamp('2026-03-02T10:20:30.400Z').getDayOfYear() == 60",
    "getDayOfMonth": "timestamp('2026-03-02T10:20:30.400Z').getDayOfMonth() == 1",
    "getDate": "timestamp('2026-03-02T10:20:30.400Z').getDate() == 2",
    "getDayOfWeek": "timestamp('2026-03-02T10:20:30.400Z').getDayOfWeek() == 1",
    "getHours": "timestamp('2026-03-02T10:20:30.400Z').getHours() == 10",
    "getMinutes": "timestamp('2026-03-02T10:20:30.400Z').getMinutes() == 20",
    "getSeconds": "timestamp('2026-03-02T10:20:30.400Z').getSeconds() == 30",
    "getMilliseconds": "timestamp('2026-03-02T10:20:30.400Z').getMilliseconds() == 400",
}


def test_every_allowed_function_works_in_the_engines_runtime() -> None:
    import cel

    from app.core.journeys.expressions import FUNCTIONS, expression_problem

    assert set(FUNCTION_EXAMPLES) == FUNCTIONS
    for name, example in FUNCTION_EXAMPLES.items():
        assert expression_problem(example) is None, name
        assert cel.evaluate(example, {}) is True, name
    # and a name outside the set really fails at run time: refusing it loses nothing
    with pytest.raises(RuntimeError, match="Undefined variable or function"):
        cel.evaluate("max(1, 2) == 2", {})


@pytest.mark.parametrize(
    "expression",
    [
        "event.properties.cart_value >= 20.0",
        "has(profile.attributes.plan) && profile.attributes.plan == 'pro'",
        "'sms' in profile.consent && profile.consent.sms",
        "profile.counts.exists(k, k == 'OrderPlaced')",
        "type(scores.churn) == double && entry.variant == 'A'",
        "entry.started_at < profile.last_seen",
    ],
)
def test_valid_expressions_pass(expression: str) -> None:
    doc = base()
    doc["trigger"]["when"] = expression
    assert validate_journey(doc, "j.yaml") == []


def test_send_data_literals_are_allowed() -> None:
    doc = base()
    doc["steps"][0]["send"]["data"] = {"discount": 10, "vip": True, "note": None, "x": "1 + 1"}
    assert validate_journey(doc, "j.yaml") == []


def test_a_loop_through_a_wait_is_fine() -> None:
    doc = base()
    doc["steps"] = [
        {"id": "a", "send": SEND},
        {"id": "pause", "wait": "1d"},
        {"id": "again", "branch": [{"when": "profile.counts.OrderPlaced == 0", "goto": "a"}]},
    ]
    assert validate_journey(doc, "j.yaml") == []


def test_a_loop_through_a_wait_for_is_fine() -> None:
    doc = base()
    doc["steps"] = [
        {"id": "a", "send": SEND},
        {
            "id": "listen",
            "wait_for": {"event": "MessageOpened", "timeout": "1d", "on_timeout": "a"},
        },
    ]
    assert validate_journey(doc, "j.yaml") == []


def test_branch_without_default_falls_through_so_the_next_step_is_reachable() -> None:
    doc = base()
    doc["steps"] = [
        {"id": "route", "branch": [{"when": "scores.intent > 0.5", "goto": "last"}]},
        {"id": "middle", "send": SEND},
        {"id": "last", "send": SEND},
    ]
    assert validate_journey(doc, "j.yaml") == []


def test_next_on_branch_is_ignored_for_reachability() -> None:
    doc = base()
    doc["steps"] = [
        {"id": "route", "branch": [{"goto": "end"}], "next": "later"},
        {"id": "later", "send": SEND},
    ]
    problems = validate_journey(doc, "j.yaml")
    assert [(p.path, "never be reached" in p.message) for p in problems] == [("steps[1]", True)]


def test_all_problems_are_reported_at_once() -> None:
    doc = base()
    doc["version"] = 0
    doc["steps"][0]["next"] = "nowhere"
    doc["steps"][1]["wait"] = "soon"
    doc["trigger"]["when"] = "(("
    paths = [p.path for p in validate_journey(doc, "j.yaml")]
    assert sorted(paths) == ["steps[0].next", "steps[1].wait", "trigger.when", "version"]


def test_a_step_that_is_not_a_mapping_is_one_problem() -> None:
    doc = base()
    doc["steps"][0] = "send_email"
    problems = validate_journey(doc, "j.yaml")
    assert [(p.path, p.message) for p in problems] == [
        ("steps[0]", "must be a mapping (got string 'send_email')")
    ]
