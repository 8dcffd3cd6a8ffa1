"""What the definition checks report: one problem per mistake, all of them at once.

A problem names the file, a location inside it (``steps[3].branch[0].goto``; ``(root)`` for the
whole document) and what is wrong, so an author can fix every mistake in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathParts = tuple[str | int, ...]
ROOT_LABEL = "(root)"
ERROR = "error"
WARNING = "warning"


def format_path(parts: Iterable[str | int]) -> str:
    """``("steps", 3, "branch", 0, "goto")`` -> ``steps[3].branch[0].goto``."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """One mistake in a journey or policies file.

    ``path`` is empty when the problem concerns the whole document; ``line`` (1-based) is known
    when the problem was found in a YAML file. ``severity`` is ``error`` (the file cannot be
    used) or ``warning`` (the spec allows it, but it is probably a mistake: an unreachable step,
    a loop without a wait). ``segue journeys validate`` shows both and fails on errors only;
    the engine loads journeys with warnings (the worker logs them).
    """

    file: str
    path: str
    message: str
    line: int | None = None
    severity: str = ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        label = "" if self.is_error else f"{self.severity}: "
        return f"{self.file}: {self.path or ROOT_LABEL}: {label}{self.message}{where}"


class DefinitionError(ValueError):
    """Journey or policy files are invalid. Fix every listed problem, then load again."""

    def __init__(self, problems: Sequence[DefinitionProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
