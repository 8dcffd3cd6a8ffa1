"""Checks a JSON Schema cannot express: references, defaults, reachability, loops, expressions.

Each check returns ``(path, message)`` pairs. They run on documents that may have failed the
schema too (so an author sees every problem at once), hence the defensive ``isinstance`` tests.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from app.core.journeys.expressions import expression_problem
from app.core.journeys.flow import END, Edge, edges, pauses, step_id, step_kind
from app.core.journeys.problems import PathParts, format_path

Found = tuple[PathParts, str]


def journey_semantic_problems(doc: Any) -> list[Found]:
    """Every semantic error of one journey document (see ``journey_semantic_warnings``)."""
    if not isinstance(doc, dict):
        return []
    found = list(_expression_problems(doc))
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        return found
    ids = _step_ids(steps, found)
    found.extend(_reference_problems(steps, ids))
    found.extend(_case_problems(steps))
    found.extend(_adaptive_problems(doc, steps))
    return found


def journey_semantic_warnings(doc: Any) -> list[Found]:
    """Unreachable steps and loops without a wait: allowed by the spec, so not errors.

    The spec lets a step be skipped by every path (``next`` jumps over it) and lets a loop run
    without a wait (a branch may leave it after a few rounds; the engine aborts one that never
    does), so a journey with these must still run. They are usually mistakes, hence warnings.
    """
    if not isinstance(doc, dict):
        return []
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        return []
    ids = _step_ids(steps, [])
    # The graph checks need a sound graph: a mistyped target would make its real target look
    # unreachable, which is noise on top of the actual mistake (reported as an error).
    if not _ids_usable(steps, ids) or any(True for _ in _reference_problems(steps, ids)):
        return []
    graph = edges(steps)
    return [*_unreachable_problems(steps, graph), *_loop_problems(steps, graph, ids)]


def policies_semantic_problems(doc: Any) -> list[Found]:
    """Semantic problems of a policies document: expressions, time zone, empty quiet hours."""
    if not isinstance(doc, dict):
        return []
    found: list[Found] = []
    categories = doc.get("categories")
    if isinstance(categories, dict):
        for name, rules in categories.items():
            if isinstance(rules, dict) and isinstance(rules.get("suppress_when"), str):
                path: PathParts = ("categories", name, "suppress_when")
                problem = expression_problem(rules["suppress_when"])
                if problem:
                    found.append((path, problem))
    quiet = doc.get("quiet_hours")
    if isinstance(quiet, dict):
        if isinstance(quiet.get("start"), str) and quiet.get("start") == quiet.get("end"):
            found.append((("quiet_hours", "end"), "must differ from start (an empty window)"))
        zone = quiet.get("default_timezone")
        if isinstance(zone, str) and not _is_time_zone(zone):
            found.append((("quiet_hours", "default_timezone"), f"unknown IANA time zone {zone!r}"))
    return found


def _is_time_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# -- expressions ------------------------------------------------------------------------------


def _expressions(doc: dict[str, Any]) -> Iterator[tuple[PathParts, Any]]:
    """Every place a journey holds a CEL expression, with its location."""
    trigger = doc.get("trigger")
    if isinstance(trigger, dict) and "when" in trigger:
        yield ("trigger", "when"), trigger["when"]
    exits = doc.get("exit_on")
    if isinstance(exits, list):
        for i, rule in enumerate(exits):
            if isinstance(rule, dict) and "when" in rule:
                yield ("exit_on", i, "when"), rule["when"]
    goal = doc.get("goal")
    if isinstance(goal, dict) and "when" in goal:
        yield ("goal", "when"), goal["when"]
    steps = doc.get("steps")
    if not isinstance(steps, list):
        return
    for i, step in enumerate(steps):
        kind = step_kind(step)
        body = step.get(kind) if kind else None
        if kind == "send" and isinstance(body, dict) and isinstance(body.get("data"), dict):
            for name, value in body["data"].items():
                yield ("steps", i, "send", "data", name), value
        elif kind == "wait_for" and isinstance(body, dict) and "when" in body:
            yield ("steps", i, "wait_for", "when"), body["when"]
        elif kind == "branch" and isinstance(body, list):
            for j, case in enumerate(body):
                if isinstance(case, dict) and "when" in case:
                    yield ("steps", i, "branch", j, "when"), case["when"]
        elif kind == "decide" and isinstance(body, dict) and isinstance(body.get("options"), list):
            for j, option in enumerate(body["options"]):
                if isinstance(option, dict) and "when" in option:
                    yield ("steps", i, "decide", "options", j, "when"), option["when"]
        elif kind == "update" and isinstance(body, dict) and isinstance(body.get("set"), dict):
            for name, value in body["set"].items():
                yield ("steps", i, "update", "set", name), value
        adaptive = step.get("adaptive") if isinstance(step, dict) else None
        reward = adaptive.get("reward") if isinstance(adaptive, dict) else None
        if isinstance(reward, dict) and "when" in reward:
            yield ("steps", i, "adaptive", "reward", "when"), reward["when"]


def _expression_problems(doc: dict[str, Any]) -> Iterator[Found]:
    for path, source in _expressions(doc):
        if isinstance(source, str) and source.strip():  # other types: the schema reports them
            problem = expression_problem(source)
            if problem:
                yield path, problem


# -- step ids and references ------------------------------------------------------------------


def _step_ids(steps: list[Any], found: list[Found]) -> dict[str, int]:
    """Step id -> index of its first use; reports repeated ids."""
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        sid = step_id(step)
        if sid is None:
            continue
        if sid in ids:
            first = format_path(("steps", ids[sid]))
            found.append((("steps", i, "id"), f"duplicate step id {sid!r} (also {first})"))
        else:
            ids[sid] = i
    return ids


def _ids_usable(steps: list[Any], ids: dict[str, int]) -> bool:
    return len(ids) == len(steps) and END not in ids


def _targets(steps: list[Any]) -> Iterator[tuple[PathParts, Any]]:
    """Every place a step names another step."""
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        if "next" in step:
            yield ("steps", i, "next"), step["next"]
        kind = step_kind(step)
        body = step.get(kind) if kind else None
        if kind == "wait_for" and isinstance(body, dict):
            for key in ("on_event", "on_timeout"):
                if key in body:
                    yield ("steps", i, "wait_for", key), body[key]
        elif kind in ("branch", "split") and isinstance(body, list):
            for j, case in enumerate(body):
                if isinstance(case, dict) and "goto" in case:
                    yield ("steps", i, kind, j, "goto"), case["goto"]


def _reference_problems(steps: list[Any], ids: dict[str, int]) -> Iterator[Found]:
    for path, target in _targets(steps):
        if isinstance(target, str) and target != END and target not in ids:
            close = difflib.get_close_matches(target, list(ids), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield (
                path,
                f"unknown step {target!r}: expected a step id of this journey or 'end'{hint}",
            )


# -- branch, split and decide cases -----------------------------------------------------------


def _case_problems(steps: list[Any]) -> Iterator[Found]:
    for i, step in enumerate(steps):
        kind = step_kind(step)
        body = step.get(kind) if kind else None
        if kind == "branch" and isinstance(body, list):
            yield from _branch_defaults(i, body)
        elif kind == "split" and isinstance(body, list):
            yield from _unique(i, body, ("split",), "variant", "variant")
            weights = [v.get("weight") for v in body if isinstance(v, dict)]
            numbers = [w for w in weights if isinstance(w, int | float) and not isinstance(w, bool)]
            if numbers and len(numbers) == len(body) and sum(numbers) <= 0:
                yield ("steps", i, "split"), "the weights must add up to more than 0"
        elif kind == "decide" and isinstance(body, dict) and isinstance(body.get("options"), list):
            yield from _unique(i, body["options"], ("decide", "options"), "id", "option id")


def _adaptive_problems(doc: dict[str, Any], steps: list[Any]) -> Iterator[Found]:
    """``adaptive`` only on split and decide, ``reward: goal`` only with a goal, the floor
    within what the arms can share."""
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("adaptive"), dict):
            continue
        adaptive = step["adaptive"]
        kind = step_kind(step)
        if kind not in ("split", "decide"):
            yield ("steps", i, "adaptive"), "adaptive is for split and decide steps only"
            continue
        if adaptive.get("reward") == "goal" and not doc.get("goal"):
            yield (
                ("steps", i, "adaptive", "reward"),
                "reward: goal needs the journey's goal; name an event type instead, or add a goal",
            )
        body = step.get(kind)
        arms = (
            [v for v in body if not isinstance(v, dict) or v.get("weight") != 0]
            if kind == "split" and isinstance(body, list)
            else body.get("options")
            if isinstance(body, dict)
            else None
        )
        floor = adaptive.get("floor", adaptive.get("exploration_floor", 0.05))
        if (
            isinstance(arms, list)
            and isinstance(floor, int | float)
            and not isinstance(floor, bool)
            and floor * len(arms) > 1
        ):
            yield (
                ("steps", i, "adaptive", "floor" if "floor" in adaptive else "exploration_floor"),
                f"floor {floor} x {len(arms)} arms is more than all the traffic; "
                f"use at most {1 / len(arms):.3g}",
            )


def _branch_defaults(index: int, cases: list[Any]) -> Iterator[Found]:
    defaults = [
        j for j, case in enumerate(cases) if isinstance(case, dict) and case.get("when") is None
    ]
    for j in defaults[1:]:
        first = format_path(("steps", index, "branch", defaults[0]))
        yield (
            ("steps", index, "branch", j),
            f"a second default case (no `when`); a branch has at most one, already {first}",
        )
    if defaults and defaults[0] != len(cases) - 1:
        yield (
            ("steps", index, "branch", defaults[0]),
            "the default case (no `when`) must be the last case; the cases after it never run",
        )


def _unique(index: int, items: list[Any], where: PathParts, key: str, what: str) -> Iterator[Found]:
    seen: dict[Any, int] = {}
    for j, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get(key), str):
            continue
        value = item[key]
        if value in seen:
            first = format_path(("steps", index, *where, seen[value]))
            yield ("steps", index, *where, j, key), f"duplicate {what} {value!r} (also {first})"
        else:
            seen[value] = j


# -- reachability and loops -------------------------------------------------------------------


def _unreachable_problems(steps: list[Any], graph: list[Edge]) -> Iterator[Found]:
    following: dict[str, list[str]] = {}
    for edge in graph:
        following.setdefault(edge.source, []).append(edge.target)
    start = str(step_id(steps[0]))
    reached = {start}
    todo = [start]
    while todo:
        for target in following.get(todo.pop(), []):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for i, step in enumerate(steps):
        sid = step_id(step)
        if sid not in reached:
            yield (
                ("steps", i),
                f"step {sid!r} can never be reached from the first step "
                "(no next, fall-through, goto, on_event or on_timeout leads to it)",
            )


def _loop_problems(steps: list[Any], graph: list[Edge], index: dict[str, int]) -> Iterator[Found]:
    """A loop whose steps never let time pass would run forever within one moment."""
    instant = {sid for sid, i in index.items() if not pauses(steps[i])}
    following: dict[str, list[str]] = {sid: [] for sid in instant}
    for edge in graph:
        if edge.source in instant and edge.target in instant:
            following[edge.source].append(edge.target)
    for component in _strongly_connected(following):
        looped = len(component) > 1 or component[0] in following[component[0]]
        if looped:
            members = sorted(component, key=lambda sid: index[sid])
            names = " -> ".join([*members, members[0]])
            yield (
                ("steps", index[members[0]]),
                f"steps {names} form a loop without a wait or wait_for "
                "(of a positive duration); it would run forever in one moment",
            )


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (journeys are small, but recursion limits are not)."""
    counter = 0
    number: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in number:
            continue
        work = [(root, iter(graph[root]))]
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in number:
                    number[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], number[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == number[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
