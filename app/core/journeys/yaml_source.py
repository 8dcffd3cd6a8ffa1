"""Read one YAML document for validation: data, line numbers and YAML-level problems.

PyYAML silently keeps the last of two equal keys and stops at the first syntax error. Authors need
to hear about both, with line numbers, so the text is first composed into nodes (which keep their
positions), the nodes are checked, and only then turned into plain Python data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from app.core.journeys.problems import DefinitionProblem, PathParts, format_path

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class YamlDocument:
    """The outcome of reading one file: ``data`` is None when nothing usable could be read."""

    data: Any
    problems: list[DefinitionProblem] = field(default_factory=list)
    lines: dict[PathParts, int] = field(default_factory=dict)

    def line_of(self, path: PathParts) -> int | None:
        """The line of ``path``, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def read_yaml(text: str, source: str) -> YamlDocument:
    """Parse ``text`` (the content of ``source``) into a :class:`YamlDocument`."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        return YamlDocument(None, [_syntax_problem(exc, source)])
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors in practice
        return YamlDocument(None, [DefinitionProblem(source, "", f"YAML error: {exc}")])

    if not nodes or (len(nodes) == 1 and _is_null(nodes[0])):
        return YamlDocument(None, [DefinitionProblem(source, "", "empty document")], {(): 1})
    doc = YamlDocument(None, lines={(): nodes[0].start_mark.line + 1})
    if len(nodes) > 1:
        doc.problems.append(
            DefinitionProblem(
                source,
                "",
                "more than one YAML document ('---'): put one definition in each file",
                nodes[1].start_mark.line + 1,
            )
        )
        return doc

    bad_keys = _walk(nodes[0], (), doc, source, set())
    if bad_keys:
        return doc  # data with non-string keys would only produce confusing follow-up errors
    try:
        loader = yaml.SafeLoader("")
        doc.data = loader.construct_document(nodes[0])
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        line = _mark_line(exc)
        doc.problems.append(DefinitionProblem(source, "", f"YAML error: {_first_line(exc)}", line))
    return doc


def _walk(
    node: yaml.Node, path: PathParts, doc: YamlDocument, source: str, active: set[int]
) -> bool:
    """Record line numbers; report duplicate and non-string keys. True if a key is unusable."""
    if id(node) in active:  # a recursive alias; PyYAML constructs it, we just stop walking
        return False
    active.add(id(node))
    bad = False
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                bad |= _walk(value_node, path, doc, source, active)
                continue
            if key_node.tag != _STR_TAG or not isinstance(key_node.value, str):
                doc.problems.append(
                    DefinitionProblem(
                        source,
                        format_path(path),
                        f"key {key_node.value!r} is not a string; quote it",
                        key_line,
                    )
                )
                bad = True
                continue
            key = key_node.value
            child = (*path, key)
            if key in seen:
                doc.problems.append(
                    DefinitionProblem(
                        source,
                        format_path(child),
                        f"duplicate key {key!r} (first at line {seen[key]})",
                        key_line,
                    )
                )
            else:
                seen[key] = key_line
                doc.lines[child] = key_line
            bad |= _walk(value_node, child, doc, source, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            doc.lines[child] = item.start_mark.line + 1
            bad |= _walk(item, child, doc, source, active)
    active.discard(id(node))
    return bad


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> DefinitionProblem:
    parts = [p for p in (exc.context, exc.problem) if p]
    line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    column = f", column {exc.problem_mark.column + 1}" if exc.problem_mark is not None else ""
    message = f"YAML syntax error{column}: {'; '.join(parts) or _first_line(exc)}"
    return DefinitionProblem(source, "", message, line)


def _mark_line(exc: BaseException) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
