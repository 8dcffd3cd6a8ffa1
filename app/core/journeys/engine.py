"""The journey engine: pure, deterministic, one customer at a time.

``handle_event`` first drops a copy of an event the customer already had (core/duplicates.py:
it changes nothing and is only counted); otherwise it fires the customer's timers due at or
before the event's time, each due time being its own moment, in due order; then handles the
event in the spec's phases:
(0) fold it into the profile, (1) goals and ``exit_on`` of active entries, (2) ``wait_for`` steps
waiting for it, (3) triggers (journey priority, then id); then arbitrates the moment's sends.
``advance`` fires the timers due at or before a given time (the shell calls it as the wall clock
moves; replay calls it at the end).

Adaptive steps (core/journeys/bandit.py) are the one thing that reads beyond the customer: their
choices and rewards go to ``self.arms``, the book of the customer's partition, which the shell
(replay, the live agent) gives the engine.

Versions: the engine may hold several versions of one journey id. New entries use the highest;
a running entry finishes on the version stamped on it. When that version is not loaded, the
entry is *orphaned*: ended the next time it is touched, without running a step (an
``exited`` outcome with the reason ``orphaned``), unless ``migrate_orphans`` is set, in which
case it continues on the highest version at the step with the same id (and is orphaned only if
that step no longer exists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.core.duplicates import DuplicateRule
from app.core.journeys.bandit import Books
from app.core.journeys.compiled import (
    WAIT_FOR,
    CompileError,
    Journey,
    compile_journey,
    trigger_spec_of,
)
from app.core.journeys.moment import Moment
from app.core.journeys.outcome import ABORTED, EXIT_ON, EXITED, GOAL, ORPHANED, Outcome
from app.core.journeys.policies import Policies
from app.core.journeys.run import MomentRun
from app.core.journeys.state import JState, new_state, next_due
from app.core.journeys.state_merge import merge_states
from app.core.profile import fold
from app.core.scoring import Scorer, ZeroScorer

#: timer rounds at one due time (zero-length waits in a loop) before the entries are aborted
MAX_TIMER_ROUNDS = 1_000


class Engine:
    def __init__(
        self,
        journeys: Iterable[Mapping[str, Any]],
        policies: Mapping[str, Any] | Policies | None = None,
        scorer: Scorer | None = None,
        *,
        migrate_orphans: bool = False,
        duplicates: DuplicateRule | None = None,
    ) -> None:
        self.scorer: Scorer = scorer if scorer is not None else ZeroScorer()
        self.model_version = self.scorer.version
        self.policies = (
            policies if isinstance(policies, Policies) else Policies(dict(policies or {}))
        )
        self.migrate_orphans = migrate_orphans
        rule = duplicates if duplicates is not None else DuplicateRule()
        #: the duplicate rule, None when it is off (a window of 0)
        self.duplicates: DuplicateRule | None = rule if rule.window > 0 else None
        #: failed expression evaluations per journey id (and "(policies)"), for metrics
        self.failures: dict[str, int] = {}
        self.versions: dict[str, dict[int, Journey]] = {}
        for d in journeys:
            j = compile_journey(dict(d))
            by_version = self.versions.setdefault(j.id, {})
            if j.version in by_version:
                raise CompileError(f"journey {j.id!r} version {j.version} is given twice")
            by_version[j.version] = j
            j.trigger_spec = trigger_spec_of(j.exprs + self.policies.exprs)
        self.latest = {jid: vs[max(vs)] for jid, vs in self.versions.items()}
        triggers: dict[str, list[Journey]] = {}
        for j in sorted(self.latest.values(), key=lambda j: j.arbitration_key):
            triggers.setdefault(j.trigger_event, []).append(j)
        self.triggers = {etype: tuple(js) for etype, js in triggers.items()}
        every = [j for vs in self.versions.values() for j in vs.values()]
        #: journeys have adaptive steps: choices read (and rewards write) the partition's book
        self.adaptive = any(s.adaptive is not None for j in every for s in j.steps)
        #: the arm statistics, one book per partition (core/journeys/bandit.py); replay and the
        #: live shell put theirs here
        self.arms = Books()
        # event types that can matter to an active entry: the rest skip phases 1 and 2
        self.phase1_types = frozenset(
            {j.goal_event for j in every if j.goal_event}
            | {event for j in every for event, _ in j.exit_on}
            | {event for j in every for event in j.reward_events}
        )
        self.phase2_types = frozenset(
            {s.event for j in every for s in j.steps if s.event is not None}
        )

    # -- state ---------------------------------------------------------------------------------

    @staticmethod
    def new_state(key: str) -> JState:
        return new_state(key)

    @staticmethod
    def next_due(jstate: JState) -> int | None:
        return next_due(jstate)

    @staticmethod
    def merge_state(into: JState, other: JState, now_ms: int) -> Outcome:
        """Identity linked ``other`` (an anonymous key) to ``into``'s customer: fold its state in.

        In place on ``into``; ``other`` is left as it was (the shell deletes it). The rules are in
        ``state_merge.py``. Nothing fires: the next event or ``advance`` runs due timers.
        """
        out = Outcome()
        out.outcomes.extend(merge_states(into, other, now_ms))
        return out

    # -- time and events -------------------------------------------------------------------------

    def advance(self, profile: dict[str, Any], jstate: JState, now_ms: int) -> Outcome:
        """Fire every timer due at or before ``now_ms``, in due order."""
        out = Outcome()
        self._fire_timers(profile, jstate, now_ms, out)
        return out

    def handle_event(
        self, profile: dict[str, Any], jstate: JState, event: dict[str, Any]
    ) -> Outcome:
        """Handle one normalised event of this customer (see the module docstring)."""
        out = Outcome()
        now = event["ts"]
        rule = self.duplicates
        if rule is not None:
            seen = jstate.get("seen")
            if seen is None:  # a new state, or one stored before ids were remembered
                seen = jstate["seen"] = {}
            if rule.repeats(seen, event["event_id"], now, profile["last_seen"]):
                out.duplicates = 1  # a copy: nothing happens, not even a due timer
                return out
        entries = jstate["entries"]
        if entries:
            self._fire_timers(profile, jstate, now, out)
        fold(profile, event)
        etype = event["type"]
        phase1 = bool(entries) and etype in self.phase1_types
        phase2 = bool(entries) and etype in self.phase2_types
        triggered = self.triggers.get(etype)
        if phase1 or phase2 or triggered:  # most events concern no journey: no moment at all
            run = MomentRun(self, profile, jstate, now, event, out)
            if phase1:
                self._goals_and_exits(run, etype)
            if phase2:
                self._wait_fors(run, etype)
            if triggered:
                self._triggers(run, triggered)
            run.finish()
            if entries:  # zero-length waits reached just now are due now
                self._fire_timers(profile, jstate, now, out)
        return out

    # -- phases --------------------------------------------------------------------------------

    def _goals_and_exits(self, run: MomentRun, etype: str) -> None:
        m = run.moment
        assert m.event is not None
        event_id = m.event["event_id"]
        for j, entry in self._resolve(run, list(run.jstate["entries"].items())):
            if "ad" in entry and etype in j.reward_events:
                run.reward(j, entry, etype)
            if (
                j.goal_event == etype
                and (j.goal_within is None or m.now <= entry["t0"] + j.goal_within)
                and (j.goal_when is None or m.test(j.goal_when, entry))
            ):
                if "ad" in entry:
                    run.reward(j, entry, None)
                record = run.end(j.id, entry, GOAL)
                record["time_to_goal_ms"] = m.now - entry["t0"]
                record["event_id"] = event_id
                continue
            for exit_event, when in j.exit_on:
                if exit_event == etype and (when is None or m.test(when, entry)):
                    record = run.end(j.id, entry, EXITED, EXIT_ON)
                    record["event_type"] = etype
                    record["event_id"] = event_id
                    break

    def _wait_fors(self, run: MomentRun, etype: str) -> None:
        m: Moment = run.moment
        # a snapshot: a wait_for reached while this event is handled never matches it
        waiting = [p for p in run.jstate["entries"].items() if p[1]["wait"] == WAIT_FOR]
        for j, entry in self._resolve(run, waiting):
            step = j.steps[j.index[entry["at"]]]
            if step.event == etype and (step.when is None or m.test(step.when, entry)):
                run.resume_on_event(j, entry, step)

    def _triggers(self, run: MomentRun, journeys: tuple[Journey, ...]) -> None:
        m = run.moment
        event = m.event
        assert event is not None
        entries = run.jstate["entries"]
        history = run.jstate["history"]
        for j in journeys:
            active = entries.get(j.id)
            if active is not None:
                if self._journey_of(j.id, active) is not None:
                    continue  # in the journey already: the trigger is ignored
                run.end(j.id, active, EXITED, ORPHANED)  # its version is gone: it may not block
            previous = history.get(j.id)
            if previous is not None:
                if j.reentry == "once":
                    continue
                if j.reentry == "cooldown" and m.now - previous[1] < j.cooldown:
                    continue
            if j.trigger_when is not None:
                prospective = {"trig": event, "tid": event["event_id"], "var": None, "t0": m.now}
                if not m.test(j.trigger_when, prospective):
                    continue
            run.start(j)

    # -- timers --------------------------------------------------------------------------------

    def _fire_timers(
        self, profile: dict[str, Any], jstate: JState, until: int, out: Outcome
    ) -> None:
        entries = jstate["entries"]
        while entries:
            due = next_due(jstate)
            if due is None or due > until:
                return
            run = MomentRun(self, profile, jstate, due, None, out)
            for _ in range(MAX_TIMER_ROUNDS):
                ready = [p for p in entries.items() if p[1]["due"] == due]
                if not ready:
                    break
                for j, entry in self._resolve(run, ready):
                    if entry["due"] == due:
                        run.fire(j, entry)
            else:
                for j, entry in self._resolve(run, list(entries.items())):
                    if entry["due"] == due:
                        self.failures[j.id] = self.failures.get(j.id, 0) + 1
                        run.end(j.id, entry, EXITED, ABORTED)
            run.finish()

    # -- versions ------------------------------------------------------------------------------

    def _journey_of(self, jid: str, entry: dict[str, Any]) -> Journey | None:
        versions = self.versions.get(jid)
        if versions is None:
            return None
        j = versions.get(entry["v"])
        if j is None and self.migrate_orphans:
            latest = self.latest[jid]
            if entry["at"] is None or entry["at"] in latest.index:
                entry["v"] = latest.version
                return latest
        return j

    def _resolve(
        self, run: MomentRun, pairs: list[tuple[str, dict[str, Any]]]
    ) -> list[tuple[Journey, dict[str, Any]]]:
        """(journey id, entry) pairs with their versions, in arbitration order; orphans end."""
        entries = run.jstate["entries"]
        resolved = []
        for jid, entry in pairs:
            if entries.get(jid) is not entry:
                continue  # ended meanwhile
            j = self._journey_of(jid, entry)
            if j is None:
                run.end(jid, entry, EXITED, ORPHANED)
                continue
            resolved.append((j, entry))
        if len(resolved) > 1:
            resolved.sort(key=lambda pair: pair[0].arbitration_key)
        return resolved
