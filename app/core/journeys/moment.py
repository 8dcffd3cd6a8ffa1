"""One moment of one customer: what expressions see, built lazily.

A moment is an event being handled, or a timer due time. Expressions see ``event`` (absent in a
timer moment), ``profile`` (live: an ``update`` is visible at once), ``scores`` (computed at most
once per moment, the first time something needs them, from the profile as it is then) and
``entry`` (the entry the expression is evaluated for).

``scores`` in an expression also holds ``sentiment``: the profile's ``sentiment`` (core/
sentiment.py), 0.0 when the profile has none. It is not a model's score: the ``scores`` stamped
on actions and outcomes are the scorer's alone (``Moment.scores``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.journeys.cel_program import Expr, project
from app.core.scoring import Scorer
from app.core.timeutil import format_ms, from_datetime, to_datetime

_TIMES = ("first_seen", "last_seen")


def _profile_view(profile: dict[str, Any], spec: Any) -> dict[str, Any]:
    view = dict(profile) if spec is True else project(profile, spec)
    for name in _TIMES:
        value = view.get(name)
        if type(value) is int:
            view[name] = to_datetime(value)  # CEL timestamps
    seen = view.get("last_event_at")
    if seen:
        view["last_event_at"] = {k: to_datetime(v) for k, v in seen.items()}
    return view


def entry_view(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` as expressions see it: trigger, variant, started_at."""
    return {
        "trigger": entry.get("trig") or {"event_id": entry.get("tid")},
        "variant": entry.get("var"),
        "started_at": to_datetime(entry["t0"]),
    }


def _entry_projection(entry: dict[str, Any], spec: Any) -> dict[str, Any]:
    """``project(entry_view(entry), spec)`` without building the parts nobody reads."""
    if spec is True:
        return entry_view(entry)
    out: dict[str, Any] = {}
    for name, sub in spec.items():
        if name == "trigger":
            out["trigger"] = project(entry.get("trig") or {"event_id": entry.get("tid")}, sub)
        elif name == "variant":
            out["variant"] = entry.get("var")
        elif name == "started_at":
            out["started_at"] = to_datetime(entry["t0"])
    return out


def plain(value: Any) -> Any:
    """A CEL result as plain JSON-ready data (timestamps as RFC 3339, durations as seconds)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return format_ms(from_datetime(value))
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Moment:
    __slots__ = ("_scores", "_views", "event", "failures", "now", "profile", "scorer")

    def __init__(
        self,
        now: int,
        event: dict[str, Any] | None,
        profile: dict[str, Any],
        scorer: Scorer,
        failures: dict[str, int],
    ) -> None:
        self.now = now
        self.event = event
        self.profile = profile
        self.scorer = scorer
        self.failures = failures
        self._scores: dict[str, float] | None = None
        # projections already built this moment, by (root, id(spec)): several expressions
        # (often of several journeys) read the same parts of the same event
        self._views: dict[tuple[str, int], Any] = {}

    def profile_changed(self) -> None:
        """An ``update`` wrote the profile: its cached projections are stale."""
        views = self._views
        for key in [k for k in views if k[0] == "profile"]:
            del views[key]

    def scores(self) -> dict[str, float]:
        if self._scores is None:
            self._scores = dict(self.scorer.score(self.profile, self.now))
        return self._scores

    def cel_scores(self) -> dict[str, Any]:
        """``scores`` as expressions see it: the scorer's, plus ``sentiment``."""
        scores: dict[str, Any] = dict(self.scores())
        scores.update(self._sentiment_only())
        return scores

    def _sentiment_only(self) -> dict[str, Any]:
        sentiment = self.profile.get("sentiment")
        return {"sentiment": sentiment if type(sentiment) is float else 0.0}

    def _variables(self, expr: Expr, entry: dict[str, Any] | None) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        views = self._views
        for name, spec in expr.needs:
            if name == "entry":  # per entry: not cached
                if entry is not None:
                    variables["entry"] = _entry_projection(entry, spec)
                continue
            if name == "now":
                variables["now"] = to_datetime(self.now)
                continue
            key = (name, id(spec))
            view = views.get(key)
            if view is None:
                if name == "event":
                    if self.event is None:
                        continue  # absent: an expression using it fails (false)
                    view = project(self.event, spec)
                elif name == "profile":
                    view = _profile_view(self.profile, spec)
                elif spec is not True and set(spec) <= {"sentiment"}:
                    view = project(self._sentiment_only(), spec)  # no model scored for it
                else:
                    view = project(self.cel_scores(), spec)
                views[key] = view
            variables[name] = view
        return variables

    def test(self, expr: Expr, entry: dict[str, Any] | None = None) -> bool:
        """True only when the expression evaluates to ``true``; errors count and are false."""
        try:
            result = expr.program.execute(self._variables(expr, entry))
        except Exception:
            self.failures[expr.owner] = self.failures.get(expr.owner, 0) + 1
            return False
        return result is True

    def value(self, expr: Expr, entry: dict[str, Any] | None = None) -> tuple[bool, Any]:
        """(True, value) or, when evaluation fails (counted), (False, None)."""
        try:
            result = expr.program.execute(self._variables(expr, entry))
        except Exception:
            self.failures[expr.owner] = self.failures.get(expr.owner, 0) + 1
            return False, None
        return True, plain(result)
