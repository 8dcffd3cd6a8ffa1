"""Journey definitions (the loader's dicts) compiled into what the engine walks per event.

Done once when the engine is built: CEL compiled, durations parsed, every goto/next resolved to a
step index (``END`` for ``end`` or past the last step), split weights turned into cumulative
shares, and the member paths of ``entry.trigger`` that any expression reads collected, so an
entry stores only that much of its trigger event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.journeys.bandit import DEFAULT_FLOOR, GOAL_REWARD, Adaptive
from app.core.journeys.cel_program import Expr, Spec, compile_optional, merge_specs
from app.core.timeutil import parse_duration

END = -1

SEND = "send"
WAIT = "wait"
WAIT_FOR = "wait_for"
BRANCH = "branch"
SPLIT = "split"
DECIDE = "decide"
UPDATE = "update"
KINDS = (SEND, WAIT, WAIT_FOR, BRANCH, SPLIT, DECIDE, UPDATE)


class CompileError(ValueError):
    """A definition the engine cannot run (the loader's validation normally catches it first)."""


@dataclass(slots=True)
class Option:
    """One ``decide`` option; ``channel`` None means "do nothing"."""

    id: str
    value: float
    weight: float
    when: Expr | None
    channel: str | None
    template: str | None


@dataclass(slots=True)
class Step:
    id: str
    index: int
    kind: str
    #: where the step continues (send, wait, update, decide; wait_for's defaults)
    next: int = END
    # send
    channel: str | None = None
    template: str | None = None
    data: tuple[tuple[str, Expr | Any], ...] = ()
    # wait (ms) / wait_for timeout (ms, None = no timeout)
    duration: int | None = None
    # wait_for
    event: str | None = None
    when: Expr | None = None
    on_event: int = END
    on_timeout: int = END
    # branch: (when or None for the default, target)
    cases: tuple[tuple[Expr | None, int], ...] = ()
    # split: (variant, cumulative share, target); the variants with a weight above 0
    variants: tuple[tuple[str, float, int], ...] = ()
    arms: tuple[int, ...] = ()
    # decide
    propensity: str = ""
    options: tuple[Option, ...] = ()
    # update: (attribute, expression or literal value)
    sets: tuple[tuple[str, Expr | Any], ...] = ()
    #: whether reaching the step can produce an action (so its visits are counted)
    acts: bool = False
    #: split / decide: choose the arm by Thompson sampling (core/journeys/bandit.py)
    adaptive: Adaptive | None = None


@dataclass(slots=True)
class Journey:
    id: str
    version: int
    category: str
    priority: int
    trigger_event: str
    trigger_when: Expr | None
    reentry: str  # once | after_exit | cooldown
    cooldown: int  # ms, for reentry == cooldown
    exit_on: tuple[tuple[str, Expr | None], ...]
    goal_event: str | None
    goal_within: int | None
    goal_when: Expr | None
    holdout: float
    steps: list[Step]
    index: dict[str, int]
    source: str | None = None
    #: projection of the trigger event kept on each entry (None: keep only its id)
    trigger_spec: Spec | None = None
    exprs: list[Expr] = field(default_factory=list)
    #: event types that reward an adaptive step of this journey (``reward: goal`` is the goal's)
    reward_events: frozenset[str] = frozenset()

    @property
    def arbitration_key(self) -> tuple[int, str]:
        return (-self.priority, self.id)


def _target(name: Any, index: dict[str, int], default: int, where: str) -> int:
    if name is None:
        return default
    if name == "end":
        return END
    if name not in index:
        raise CompileError(f"{where}: unknown step {name!r}")
    return index[name]


def _duration(text: Any, where: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise CompileError(f"{where}: {exc}") from None


def compile_journey(d: dict[str, Any]) -> Journey:
    jid = d["id"]
    exprs: list[Expr] = []

    def expr(source: str | None) -> Expr | None:
        compiled = compile_optional(source, jid)
        if compiled is not None:
            exprs.append(compiled)
        return compiled

    raw_steps = d["steps"]
    index = {s["id"]: i for i, s in enumerate(raw_steps)}
    if len(index) != len(raw_steps):
        raise CompileError(f"{jid}: duplicate step ids")
    steps = [_compile_step(jid, s, i, index, len(raw_steps), expr) for i, s in enumerate(raw_steps)]

    trigger = d["trigger"]
    reentry = d.get("reentry") or "after_exit"
    cooldown = 0
    if isinstance(reentry, dict):
        cooldown = _duration(reentry.get("cooldown"), f"{jid}.reentry.cooldown")
        reentry = "cooldown"
    elif reentry not in ("once", "after_exit"):
        raise CompileError(f"{jid}: unknown reentry {reentry!r}")
    goal = d.get("goal") or None
    within = goal.get("within") if goal else None
    journey = Journey(
        id=jid,
        version=int(d["version"]),
        category=d.get("category") or "promotional",
        priority=int(d.get("priority") or 0),
        trigger_event=trigger["event"],
        trigger_when=expr(trigger.get("when")),
        reentry=reentry,
        cooldown=cooldown,
        exit_on=tuple((x["event"], expr(x.get("when"))) for x in d.get("exit_on") or ()),
        goal_event=goal["event"] if goal else None,
        goal_within=_duration(within, f"{jid}.goal.within") if within is not None else None,
        goal_when=expr(goal.get("when")) if goal else None,
        holdout=float(d.get("holdout") or 0.0),
        steps=steps,
        index=index,
        source=d.get("source"),
        exprs=exprs,
    )
    for step in steps:
        if step.adaptive is not None and step.adaptive.reward_event is None and not goal:
            raise CompileError(f"{jid}.steps.{step.id}: reward: goal needs the journey's goal")
    journey.reward_events = frozenset(
        s.adaptive.reward_event
        for s in steps
        if s.adaptive is not None and s.adaptive.reward_event is not None
    )
    return journey


def _compile_step(
    jid: str, s: dict[str, Any], i: int, index: dict[str, int], count: int, expr: Any
) -> Step:
    sid = s["id"]
    where = f"{jid}.steps.{sid}"
    kinds = [k for k in KINDS if k in s]
    if len(kinds) != 1:
        raise CompileError(f"{where}: a step has exactly one kind of {KINDS}")
    kind = kinds[0]
    body = s[kind]
    following = i + 1 if i + 1 < count else END
    nxt = _target(s.get("next"), index, following, where)
    step = Step(id=sid, index=i, kind=kind, next=nxt)
    if kind == SEND:
        step.channel = body["channel"]
        step.template = body.get("template")
        data = body.get("data") or {}
        # a non-string value is a literal, not an expression
        step.data = tuple(
            (name, expr(value) if isinstance(value, str) else value) for name, value in data.items()
        )
        step.acts = True
    elif kind == WAIT:
        step.duration = _duration(body, where)
    elif kind == WAIT_FOR:
        step.event = body["event"]
        step.when = expr(body.get("when"))
        timeout = body.get("timeout")
        step.duration = _duration(timeout, where) if timeout is not None else None
        step.on_event = _target(body.get("on_event"), index, nxt, where)
        step.on_timeout = _target(body.get("on_timeout"), index, nxt, where)
    elif kind == BRANCH:
        # `next` is ignored on a branch: no match continues with the following step
        step.next = following
        step.cases = tuple(
            (expr(case.get("when")), _target(case["goto"], index, following, where))
            for case in body
        )
    elif kind == SPLIT:
        step.next = following
        total = float(sum(v["weight"] for v in body))
        if total <= 0:
            raise CompileError(f"{where}: split weights must add up to more than 0")
        cumulative = 0.0
        variants = []
        for v in body:
            cumulative += float(v["weight"])
            variants.append(
                (str(v["variant"]), cumulative / total, _target(v["goto"], index, following, where))
            )
        step.variants = tuple(variants)
        step.arms = tuple(i for i, v in enumerate(body) if float(v["weight"]) > 0)
    elif kind == DECIDE:
        step.propensity = body["propensity"]
        step.options = tuple(
            Option(
                id=str(o["id"]),
                value=float(o["value"]),
                weight=float(o.get("weight", 1.0) if o.get("weight") is not None else 1.0),
                when=expr(o.get("when")),
                channel=o.get("channel"),
                template=o.get("template"),
            )
            for o in body["options"]
        )
        step.acts = True
    elif kind == UPDATE:
        sets = body.get("set") or {}
        # a YAML number or boolean is that literal value; null leaves the attribute as it is
        step.sets = tuple(
            (name, expr(source) if isinstance(source, str) else source)
            for name, source in sets.items()
            if source is not None
        )
    if s.get("adaptive") is not None:
        arms = len(step.arms) if kind == SPLIT else len(step.options)
        step.adaptive = _adaptive(s["adaptive"], kind, arms, where, expr)
    return step


def _adaptive(body: Any, kind: str, arms: int, where: str, expr: Any) -> Adaptive:
    if kind not in (SPLIT, DECIDE):
        raise CompileError(f"{where}: adaptive is for split and decide steps")
    reward = body.get("reward")
    if reward == GOAL_REWARD:
        event, when = None, None
    elif isinstance(reward, str):
        event, when = reward, None
    elif isinstance(reward, dict) and isinstance(reward.get("event"), str):
        event, when = reward["event"], expr(reward.get("when"))
    else:
        raise CompileError(
            f"{where}: adaptive.reward must be 'goal', an event type or {{event, when}}"
        )
    floor = body.get("floor", body.get("exploration_floor"))
    floor = DEFAULT_FLOOR if floor is None else float(floor)
    holdout = float(body.get("holdout") or 0.0)
    if floor < 0.0 or floor * arms > 1.0:
        raise CompileError(f"{where}: adaptive.floor x {arms} arms must be between 0 and 1")
    if not 0.0 <= holdout <= 1.0:
        raise CompileError(f"{where}: adaptive.holdout must be between 0 and 1")
    return Adaptive(reward_event=event, reward_when=when, floor=floor, holdout=holdout)


def trigger_spec_of(exprs: list[Expr]) -> Spec | None:
    """The union of what the expressions read under ``entry.trigger`` (None: nothing)."""
    spec: Spec | None = None
    for e in exprs:
        for root, root_spec in e.needs:
            if root != "entry":
                continue
            if root_spec is True:
                spec = True
            elif "trigger" in root_spec:
                spec = merge_specs(spec, root_spec["trigger"])
    return spec
