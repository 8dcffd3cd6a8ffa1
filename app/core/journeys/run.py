"""One moment of one customer: walking entries through their steps and arbitrating the sends.

Entries run at once until they pause (``wait``, ``wait_for``, a quiet-hours deferral) or end.
A send is checked for consent (the channel's consent mode, then standing unsubscribes), category
suppression and quiet hours when it is reached: those depend only on the customer at this
moment, and a deferral must pause the entry right there.
The frequency caps are the only check that depends on other sends, and a cap failure never
changes an entry's path (a suppressed send moves on as if sent), so the moment's surviving sends
are collected and capped together at the end (:meth:`MomentRun.finish`), in arbitration order:
journey priority (high first), journey id, entry number, then the order the sends were reached.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from app.core.handoff import handoff_context
from app.core.journeys import bandit
from app.core.journeys.cel_program import Expr, project
from app.core.journeys.compiled import (
    BRANCH,
    DECIDE,
    END,
    SEND,
    SPLIT,
    UPDATE,
    WAIT,
    WAIT_FOR,
    Journey,
    Option,
    Step,
)
from app.core.journeys.hashing import action_id, in_global_control, in_holdout, split_draw
from app.core.journeys.moment import Moment
from app.core.journeys.outcome import (
    ABORTED,
    DECIDED,
    ENDED,
    ENTERED,
    EXITED,
    HELD_OUT,
    REWARDED,
    SENT,
    STEP,
    SUPPRESSED,
    TIMED_OUT,
    Outcome,
    outcome_record,
)
from app.core.profile import recipient_snapshot, unsubscribed_from
from app.core.stamps import restamp
from app.core.timeutil import format_ms

if TYPE_CHECKING:
    from app.core.journeys.engine import Engine

#: steps one entry may run in one moment before it is judged to loop forever and is aborted
MAX_STEPS_PER_RUN = 1_000

AGENT = "agent"
HOLDOUT = "holdout"
GLOBAL_CONTROL = "global_control"


class MomentRun:
    __slots__ = (
        "_quiet",
        "_repeats",
        "_time",
        "engine",
        "jstate",
        "key",
        "moment",
        "out",
        "pending",
    )

    def __init__(
        self,
        engine: Engine,
        profile: dict[str, Any],
        jstate: dict[str, Any],
        now: int,
        event: dict[str, Any] | None,
        out: Outcome,
    ) -> None:
        self.engine = engine
        self.jstate = jstate
        self.key: str = jstate["key"]
        self.moment = Moment(now, event, profile, engine.scorer, engine.failures)
        self.out = out
        #: (arbitration key, record, its entry, bypasses caps, channel)
        self.pending: list[
            tuple[tuple[int, str, int, int], dict[str, Any], dict[str, Any], bool, str]
        ] = []
        self._time: str | None = None  # formatted lazily: most moments send nothing
        self._quiet: tuple[object, int | None] | None = None  # (zone name, quiet until)
        #: outcome records of one (journey, kind, step) so far this moment (only loops repeat)
        self._repeats: dict[tuple[str, str, str | None], int] | None = None

    # -- entry life --------------------------------------------------------------------------

    def start(self, j: Journey) -> None:
        """Start a new entry of ``j`` on the current event and run it."""
        m = self.moment
        event = m.event
        assert event is not None
        history = self.jstate["history"]
        previous = history.get(j.id)
        number = previous[0] + 1 if previous else 1
        history[j.id] = [number, m.now]
        entry: dict[str, Any] = {
            "v": j.version,
            "n": number,
            "t0": m.now,
            "tid": event["event_id"],
            "var": None,
            "ho": in_holdout(j.id, self.key, j.holdout),
            "at": None,
            "due": None,
            "wait": None,
            "vis": {},
        }
        if j.trigger_spec is not None:
            entry["trig"] = project(event, j.trigger_spec)
        self.jstate["entries"][j.id] = entry
        record = self.note(ENTERED, j.id, entry)
        record["trigger_event_id"] = event["event_id"]
        record["trigger_type"] = event["type"]
        record["goal"] = j.goal_event  # None: the journey measures no conversion
        record["category"] = j.category
        record["global_control"] = self._globally_held(j.category)
        self.run(j, entry, 0 if j.steps else END)

    def end(
        self, jid: str, entry: dict[str, Any], kind: str, reason: str | None = None
    ) -> dict[str, Any]:
        """End the entry with the outcome ``kind`` (goal, exited with ``reason``, ended)."""
        entries = self.jstate["entries"]
        if entries.get(jid) is entry:
            del entries[jid]
        entry["due"] = None
        record = self.note(kind, jid, entry)
        if reason is not None:
            record["reason"] = reason
        return record

    def note(
        self, kind: str, jid: str, entry: dict[str, Any], step: str | None = None
    ) -> dict[str, Any]:
        """Append an outcome record of this moment and return it (callers add its details)."""
        repeat = 1
        if kind in (STEP, TIMED_OUT):  # the only kinds a loop repeats in one moment
            repeats = self._repeats
            if repeats is None:
                repeats = self._repeats = {}
            mark = (jid, kind, step)
            repeat = repeats[mark] = repeats.get(mark, 0) + 1
        record = outcome_record(
            kind, self.key, jid, entry, self.moment.now, self._time_text(), step, repeat
        )
        self.out.outcomes.append(record)
        return record

    def _time_text(self) -> str:
        if self._time is None:
            self._time = format_ms(self.moment.now)
        return self._time

    def fire(self, j: Journey, entry: dict[str, Any]) -> None:
        """The entry's timer is due now: a wait ends, a wait_for times out, quiet hours end."""
        kind = entry["wait"]
        step = j.steps[j.index[entry["at"]]]
        entry["due"] = None
        entry["wait"] = None
        if kind == WAIT:
            self.run(j, entry, step.next)
        elif kind == WAIT_FOR:
            self.note(TIMED_OUT, j.id, entry, step.id)
            self.run(j, entry, step.on_timeout)
        else:  # a deferred send: arbitrated again, in full, now
            spec = entry.pop("defer")
            if not self._reach_send(j, entry, step, spec):
                self.run(j, entry, step.next)

    def resume_on_event(self, j: Journey, entry: dict[str, Any], step: Step) -> None:
        entry["due"] = None
        entry["wait"] = None
        self.run(j, entry, step.on_event)

    # -- stepping ----------------------------------------------------------------------------

    def run(self, j: Journey, entry: dict[str, Any], index: int) -> None:
        """Run steps from ``index`` until the entry pauses or ends."""
        m = self.moment
        steps = j.steps
        budget = MAX_STEPS_PER_RUN
        while index != END:
            budget -= 1
            if budget < 0:
                failures = self.engine.failures
                failures[j.id] = failures.get(j.id, 0) + 1
                self.end(j.id, entry, EXITED, ABORTED)
                return
            step = steps[index]
            kind = step.kind
            reached = self.note(STEP, j.id, entry, step.id)
            reached["step_kind"] = kind
            reached["step_index"] = index
            if kind == SEND:
                spec = {
                    "ch": step.channel,
                    "tpl": step.template,
                    "data": self._data(step, entry),
                    "opt": None,
                    "at": m.now,
                }
                self._visit(entry, step)
                if self._reach_send(j, entry, step, spec):
                    return
                index = step.next
            elif kind == WAIT:
                assert step.duration is not None
                self._pause(entry, step, m.now + step.duration, WAIT)
                return
            elif kind == WAIT_FOR:
                due = None if step.duration is None else m.now + step.duration
                self._pause(entry, step, due, WAIT_FOR)
                return
            elif kind == BRANCH:
                index = step.next
                for when, goto in step.cases:
                    if when is None or m.test(when, entry):
                        index = goto
                        break
            elif kind == SPLIT:
                if step.adaptive is not None:
                    variant, index = self._split_adaptively(j, step, entry, reached)
                else:
                    variant, index = self._split(j, step)
                entry["var"] = reached["variant"] = variant
            elif kind == DECIDE:
                self._visit(entry, step)
                option = self._choose(j, step, entry)
                if option is not None and option.channel is not None:
                    spec = {
                        "ch": option.channel,
                        "tpl": option.template,
                        "data": {},
                        "opt": option.id,
                        "at": m.now,
                    }
                    if self._reach_send(j, entry, step, spec):
                        return
                index = step.next
            elif kind == UPDATE:
                attributes = m.profile["attributes"]
                written: dict[str, int | None] = {}
                for name, expr in step.sets:
                    ok, value = m.value(expr, entry) if isinstance(expr, Expr) else (True, expr)
                    if ok:  # a failing expression leaves the attribute unchanged
                        attributes[name] = value
                        written[name] = m.now
                        m.profile_changed()
                if written:  # the write's time: a late older event cannot undo it
                    m.profile["attr_ts"] = restamp(attributes, m.profile.get("attr_ts"), written)
                index = step.next
        self.end(j.id, entry, ENDED)

    @staticmethod
    def _visit(entry: dict[str, Any], step: Step) -> None:
        visits = entry["vis"]
        visits[step.id] = visits.get(step.id, 0) + 1

    @staticmethod
    def _pause(entry: dict[str, Any], step: Step, due: int | None, kind: str) -> None:
        entry["at"] = step.id
        entry["due"] = due
        entry["wait"] = kind

    def _data(self, step: Step, entry: dict[str, Any]) -> dict[str, Any]:
        data = {}
        for name, value in step.data:
            if isinstance(value, Expr):
                _, value = self.moment.value(value, entry)  # a failure gives null (counted)
            data[name] = value
        return data

    def _split(self, j: Journey, step: Step) -> tuple[str, int]:
        """The spec's split: the first variant whose cumulative share exceeds the draw."""
        u = split_draw(j.id, step.id, self.key)
        variant, _, index = step.variants[-1]
        for name, share, goto in step.variants:
            if share > u:
                return name, goto
        return variant, index

    def _split_adaptively(
        self, j: Journey, step: Step, entry: dict[str, Any], reached: dict[str, Any]
    ) -> tuple[str, int]:
        adaptive = step.adaptive
        assert adaptive is not None
        if self._in_control(j, entry):
            return self._split(j, step)
        seed = self._seed(j, step, entry)
        if bandit.in_holdout(seed, adaptive.holdout):
            variant, index = self._split(j, step)
            mode = bandit.HOLDOUT
        else:
            arms = [step.variants[i][0] for i in step.arms]  # a weight of 0 switches one off
            stats = bandit.visible(self._book(), bandit.stats_key(j.id, step.id), self.moment.now)
            chosen, mode, _ = bandit.choose(arms, [1.0] * len(arms), stats, seed, adaptive.floor)
            variant, _, index = step.variants[step.arms[chosen]]
        reached["adaptive"] = mode
        self._pulled(j, step, entry, variant)
        return variant, index

    def _in_control(self, j: Journey, entry: dict[str, Any]) -> bool:
        """A control-group entry (the journey's holdout, the global control group) gets the
        step's fixed rule and teaches the learner nothing: none of its sends go out, so its
        conversions say nothing of the arms."""
        return bool(entry["ho"]) or self._globally_held(j.category)

    def _book(self) -> bandit.Book:
        return self.engine.arms.book(self.key)

    def _seed(self, j: Journey, step: Step, entry: dict[str, Any]) -> str:
        return f"{j.id}:{step.id}:{self.key}:{entry['n']}:{self.moment.now}"

    def _pulled(self, j: Journey, step: Step, entry: dict[str, Any], arm: str) -> None:
        """Count the pull and remember the arm on the entry until it is rewarded."""
        bandit.count(self._book(), bandit.stats_key(j.id, step.id), arm, self.moment.now, pulls=1)
        chosen = entry.get("ad")
        if chosen is None:
            chosen = entry["ad"] = {}
        chosen[step.id] = arm

    def reward(self, j: Journey, entry: dict[str, Any], etype: str | None) -> None:
        """Credit the entry's adaptive choices that ``etype`` rewards (None: the goal)."""
        m = self.moment
        chosen: dict[str, str] = entry["ad"]
        for step_id, arm in list(chosen.items()):
            index = j.index.get(step_id)
            adaptive = j.steps[index].adaptive if index is not None else None
            if adaptive is None or adaptive.reward_event != etype:
                continue
            if adaptive.reward_when is not None and not m.test(adaptive.reward_when, entry):
                continue
            del chosen[step_id]
            bandit.count(self._book(), bandit.stats_key(j.id, step_id), arm, m.now, rewards=1)
            record = self.note(REWARDED, j.id, entry, step_id)
            record["arm"] = arm
            record["reward"] = adaptive.reward_name
            assert m.event is not None
            record["event_id"] = m.event["event_id"]
        if not chosen:
            del entry["ad"]

    def _choose(self, j: Journey, step: Step, entry: dict[str, Any]) -> Option | None:
        """The best eligible option (None: none eligible); the choice and every option's
        score go on a ``decided`` outcome record, "do nothing" included."""
        m = self.moment
        propensity = m.scores().get(step.propensity, 0.0)
        if not isinstance(propensity, int | float) or isinstance(propensity, bool):
            propensity = 0.0
        best: Option | None = None
        best_value = 0.0
        scored: list[dict[str, Any]] = []
        for option in step.options:
            if option.when is not None and not m.test(option.when, entry):
                scored.append({"id": option.id, "eligible": False, "score": None})
                continue
            value = propensity * option.value * option.weight
            scored.append({"id": option.id, "eligible": True, "score": value})
            if best is None or value > best_value:  # ties go to the earlier option
                best, best_value = option, value
        record = self.note(DECIDED, j.id, entry, step.id)
        if step.adaptive is not None and best is not None:  # some option is eligible
            eligible = [
                (option, score)
                for option, score in zip(step.options, scored, strict=True)
                if score["eligible"]
            ]
            best = self._decide_adaptively(j, step, entry, eligible, best, record)
        record["propensity"] = propensity
        record["options"] = scored
        record["choice"] = None if best is None else best.id
        record["channel"] = None if best is None else best.channel
        return best

    def _decide_adaptively(
        self,
        j: Journey,
        step: Step,
        entry: dict[str, Any],
        eligible: list[tuple[Option, dict[str, Any]]],
        fixed: Option | None,
        record: dict[str, Any],
    ) -> Option | None:
        """Thompson sampling among the eligible options (their scores become the draws x
        value x weight); the holdout keeps the fixed rule's choice and scores."""
        adaptive = step.adaptive
        assert adaptive is not None
        if self._in_control(j, entry):
            return fixed
        seed = self._seed(j, step, entry)
        if bandit.in_holdout(seed, adaptive.holdout):
            best = fixed
            record["adaptive"] = bandit.HOLDOUT
        else:
            arms = [option.id for option, _ in eligible]
            values = [option.value * option.weight for option, _ in eligible]
            stats = bandit.visible(self._book(), bandit.stats_key(j.id, step.id), self.moment.now)
            chosen, mode, draws = bandit.choose(arms, values, stats, seed, adaptive.floor)
            for (_, score), draw in zip(eligible, draws, strict=True):
                score["score"] = draw
            best = eligible[chosen][0]
            record["adaptive"] = mode
        if best is not None:
            self._pulled(j, step, entry, best.id)
        return best

    # -- sends and policies ------------------------------------------------------------------

    def _record(
        self, j: Journey, entry: dict[str, Any], step: Step, spec: dict[str, Any]
    ) -> dict[str, Any]:
        m = self.moment
        visit = entry["vis"].get(step.id, 1)
        context: dict[str, Any] = {"category": j.category, "priority": j.priority, "visit": visit}
        if spec["opt"] is not None:
            context["option"] = spec["opt"]
        if spec["at"] != m.now:
            context["deferred_from"] = format_ms(spec["at"])
        time = self._time_text()
        return {
            "action_id": action_id(j.id, j.version, self.key, entry["n"], step.id, visit),
            "customer_id": self.key,
            "journey": j.id,
            "journey_version": j.version,
            "step": step.id,
            "channel": spec["ch"],
            "template": spec["tpl"],
            "variant": entry["var"],
            "trigger_event_id": entry["tid"],
            "event_time": time,
            "decided_at": time,
            "scores": dict(m.scores()),
            "data": spec["data"],
            "entry": entry["n"],
            "model_version": self.engine.model_version,
            "context": context,
            # the recipient: a sink delivers with the profile the action was decided on,
            # without reading (or waiting for) the profiles changelog
            "profile": recipient_snapshot(m.profile),
        }

    def _decide(
        self, record: dict[str, Any], entry: dict[str, Any], decision: str, reason: str
    ) -> None:
        record["decision"] = decision
        record["reason"] = reason
        self.out.decisions.append(record)
        self._note_send(decision, record, entry)["reason"] = reason

    def _note_send(
        self, kind: str, action: dict[str, Any], entry: dict[str, Any]
    ) -> dict[str, Any]:
        """The outcome record of a send: emitted (``sent``), suppressed or held out."""
        record = self.note(kind, action["journey"], entry, action["step"])
        record["variant"] = action["variant"]  # as it was when the send was reached
        record["action_id"] = action["action_id"]
        record["channel"] = action["channel"]
        record["template"] = action["template"]
        return record

    def _reach_send(
        self, j: Journey, entry: dict[str, Any], step: Step, spec: dict[str, Any]
    ) -> bool:
        """Consent, reachability, category, quiet hours; True when the send (and its entry) is
        deferred."""
        m = self.moment
        policies = self.engine.policies
        channel = spec["ch"]
        consent = m.profile["consent"].get(channel)
        if consent is False or (consent is None and policies.opt_in(channel, j.category)):
            self._decide(self._record(j, entry, step, spec), entry, SUPPRESSED, "consent")
            return False
        if unsubscribed_from(m.profile, channel, j.category):
            self._decide(self._record(j, entry, step, spec), entry, SUPPRESSED, "unsubscribed")
            return False
        if policies.reachability and policies.unreachable(
            channel, m.profile["attributes"], spec["data"]
        ):
            self._decide(self._record(j, entry, step, spec), entry, SUPPRESSED, "unreachable")
            return False
        category = policies.category(j.category)
        if category.suppress_when is not None and m.test(category.suppress_when, entry):
            self._decide(self._record(j, entry, step, spec), entry, SUPPRESSED, "category")
            return False
        quiet = policies.quiet
        if quiet is not None and not category.bypass_quiet:
            zone_name = m.profile["attributes"].get("timezone")
            cached = self._quiet
            if cached is not None and cached[0] == zone_name:
                until = cached[1]
            else:
                until = quiet.quiet_until(m.now, zone_name)
                self._quiet = (zone_name, until)
            if until is not None:
                if quiet.action == "defer":
                    self._pause(entry, step, until, "defer")
                    entry["defer"] = spec
                    return True
                self._decide(self._record(j, entry, step, spec), entry, SUPPRESSED, "quiet_hours")
                return False
        order = (-j.priority, j.id, entry["n"], len(self.pending))
        record = self._record(j, entry, step, spec)
        if channel == AGENT:  # a handoff: the agent gets the whole story (core/handoff.py)
            record["context"].update(handoff_context(m.profile, self.jstate, j.id, entry, step.id))
        self.pending.append((order, record, entry, category.bypass_caps, channel))
        return False

    def _globally_held(self, category: str) -> bool:
        """Whether the global control group holds this customer's sends of ``category``."""
        policies = self.engine.policies
        return (
            policies.control_share > 0
            and category in policies.control_categories
            and in_global_control(self.key, policies.control_share)
        )

    def finish(self) -> None:
        """Arbitrate the moment's sends: holdout, then caps, in arbitration order."""
        if not self.pending:
            return
        policies = self.engine.policies
        now = self.moment.now
        sent: list[list[Any]] = self.jstate["sent"]
        counting = bool(policies.caps)
        self.pending.sort(key=itemgetter(0))
        for _, record, entry, bypass_caps, channel in self.pending:
            if entry["ho"]:  # the control group: never emitted, never counted toward the caps
                self._decide(record, entry, HELD_OUT, HOLDOUT)
            elif self._globally_held(record["context"]["category"]):  # likewise
                self._decide(record, entry, HELD_OUT, GLOBAL_CONTROL)
            elif counting and not bypass_caps and policies.capped(sent, channel, now):
                self._decide(record, entry, SUPPRESSED, "frequency_cap")
            else:
                self.out.actions.append(record)
                self._note_send(SENT, record, entry)
                if counting:
                    sent.append([now, channel])
        self.pending.clear()
        if counting:
            low = now - policies.window
            sent[:] = [s for s in sent if s[0] > low]
