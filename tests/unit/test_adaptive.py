"""Adaptive split and decide (core/journeys/bandit.py): the learner finds the better arm, the
same history gives the same choices whatever the order and batching, the definitions say what
is wrong with them."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from app.cli import _register
from app.cli import app as cli
from app.core.envelope import validate_event
from app.core.identity_replay import replay_in_time_order
from app.core.journeys import Engine, bandit
from app.core.journeys.compiled import CompileError
from app.core.journeys.hashing import split_draw
from app.core.journeys.replay import replay
from app.core.journeys.semantics import journey_semantic_problems
from app.sim.arms import ArmsPlan, run_arms, without_adaptive

_register()  # every command on ``app``
ROOT = Path(__file__).parents[2]
HOUR = bandit.WINDOW_MS

SPLIT_JOURNEY: dict[str, Any] = {
    "id": "offer_test",
    "version": 1,
    "trigger": {"event": "CartAbandoned"},
    "goal": {"event": "OrderPlaced", "within": "2d"},
    "steps": [
        {"id": "settle", "wait": "30m"},  # the choice is a timer's moment
        {
            "id": "pick",
            "split": [
                {"variant": "A", "weight": 1, "goto": "send_a"},
                {"variant": "B", "weight": 1, "goto": "send_b"},
            ],
            "adaptive": {"reward": "goal", "floor": 0.05},
        },
        {"id": "send_a", "send": {"channel": "email", "template": "cart_offer"}, "next": "wait"},
        {"id": "send_b", "send": {"channel": "email", "template": "cart_reminder"}},
        {"id": "wait", "wait_for": {"event": "OrderPlaced", "timeout": "2d"}},
    ],
}
RATES = {"A": 0.04, "B": 0.08}


def engine_for(partitions: int = 1) -> Any:
    def make(doc: dict[str, Any]) -> Engine:
        engine = Engine([doc])
        engine.arms = bandit.Books(partitions)
        return engine

    return make


def choices_of(outcomes: list[dict[str, Any]], step: str = "pick") -> dict[str, str]:
    out = {}
    for o in outcomes:
        if o["step"] != step:
            continue
        if o["kind"] == "step" and o.get("variant") is not None:
            out[o["customer_id"]] = o["variant"]
        elif o["kind"] == "decided" and o.get("choice") is not None:
            out[o["customer_id"]] = o["choice"]
    return out


# -- the statistics a choice sees --------------------------------------------------------------


def test_a_choice_sees_the_windows_that_ended_a_full_window_before_its_own() -> None:
    book = bandit.new_book()
    key = bandit.stats_key("j", "s")
    bandit.count(book, key, "A", 10 * HOUR + 5, pulls=1)
    bandit.count(book, key, "A", 10 * HOUR + 9, rewards=1)
    assert bandit.visible(book, key, 10 * HOUR + 100) == {}  # its own window
    assert bandit.visible(book, key, 11 * HOUR + 100) == {}  # the one after
    assert bandit.visible(book, key, 12 * HOUR) == {"A": [1, 1]}
    assert bandit.visible(book, bandit.stats_key("j", "other"), 12 * HOUR) == {}


def test_old_windows_fold_into_the_settled_totals_without_changing_what_is_seen() -> None:
    book = bandit.new_book()
    key = bandit.stats_key("j", "s")
    for hour in range(bandit.KEEP_WINDOWS + 30):
        bandit.count(book, key, "A", hour * HOUR, pulls=2)
        bandit.count(book, key, "B", hour * HOUR, pulls=1, rewards=1)
    assert len(book["w"]) == bandit.KEEP_WINDOWS
    seen = bandit.visible(book, key, (bandit.KEEP_WINDOWS + 31) * HOUR)
    assert seen == {"A": [2 * (bandit.KEEP_WINDOWS + 30), 0], "B": [bandit.KEEP_WINDOWS + 30] * 2}


def test_the_draws_depend_on_the_seed_only() -> None:
    stats = {"A": [100, 10], "B": [100, 20]}
    first = bandit.choose(["A", "B"], [1.0, 1.0], stats, "j:s:c-1:1:5", 0.05)
    assert bandit.choose(["A", "B"], [1.0, 1.0], stats, "j:s:c-1:1:5", 0.05) == first
    picks = {bandit.choose(["A", "B"], [1.0, 1.0], stats, f"s:{i}", 0.0)[0] for i in range(200)}
    assert picks == {0, 1}  # a sample, not an argmax: the weaker arm still gets some


def test_beta_draws_have_the_beta_mean() -> None:
    rng = random.Random(7)
    for a, b in ((1.0, 1.0), (3.0, 9.0), (40.0, 10.0)):
        draws = [bandit.beta(rng, a, b) for _ in range(4000)]
        assert all(0.0 < x < 1.0 for x in draws)
        assert abs(sum(draws) / len(draws) - a / (a + b)) < 0.02


def test_the_floor_gives_every_arm_its_share() -> None:
    stats = {"A": [10_000, 100], "B": [10_000, 5_000], "C": [10_000, 10]}
    picks = [
        bandit.choose(["A", "B", "C"], [1.0] * 3, stats, f"seed-{i}", 0.1) for i in range(6000)
    ]
    for arm in (0, 2):  # hopeless arms: only the floor plays them
        share = sum(p[0] == arm for p in picks) / len(picks)
        assert 0.08 < share < 0.12
        assert all(p[1] == bandit.EXPLORE for p in picks if p[0] == arm)


# -- the learner on a known best arm --------------------------------------------------------


def test_the_adaptive_split_moves_its_traffic_to_the_better_arm() -> None:
    plan = ArmsPlan(journey=SPLIT_JOURNEY, step="pick", rates=RATES, entries=5000)
    adaptive = run_arms(plan, engine_for())
    fixed = run_arms(plan, engine_for(), without_adaptive(SPLIT_JOURNEY))
    shares = adaptive.best_share("B", 500)
    assert shares[-1] > 0.8, shares
    assert max(fixed.best_share("B", 500)) < 0.6  # the fixed split stays at 50/50
    assert adaptive.regret(RATES)[-1] < fixed.regret(RATES)[-1] / 2
    assert {c.mode for c in adaptive.choices} == {"explore", "exploit"}
    assert {c.mode for c in fixed.choices} == {None}


@pytest.mark.parametrize("partitions", [1, 4])
def test_replay_of_the_traffic_makes_the_same_choices_in_any_input_order(
    partitions: int,
) -> None:
    plan = ArmsPlan(journey=SPLIT_JOURNEY, step="pick", rates=RATES, entries=1200, per_hour=200)
    run = run_arms(plan, engine_for(partitions))
    events = [validate_event(e) for e in run.events]
    random.Random(5).shuffle(events)
    result = replay(events, engine_for(partitions)(SPLIT_JOURNEY))
    assert choices_of(result.outcomes) == {c.customer: c.arm for c in run.choices}
    rewarded = [o for o in result.outcomes if o["kind"] == "rewarded"]
    assert len(rewarded) == sum(c.converted for c in run.choices)
    assert {o["reward"] for o in rewarded} == {"goal"}
    again = replay(list(reversed(events)), engine_for(partitions)(SPLIT_JOURNEY))
    assert orjson.dumps(again.outcomes) == orjson.dumps(result.outcomes)


def test_segue_replay_writes_the_simulated_choices_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGUE_PARTITIONS", "3")
    plan = ArmsPlan(journey=SPLIT_JOURNEY, step="pick", rates=RATES, entries=600, per_hour=200)
    run = run_arms(plan, engine_for(3))
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "offer.yaml").write_text(yaml.safe_dump(SPLIT_JOURNEY))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in run.events))
    outputs = []
    for n in (1, 2):
        out = tmp_path / f"outcomes{n}.jsonl"
        result = CliRunner().invoke(
            cli,
            [
                *("replay", "--journeys", str(folder), "--events", str(events)),
                *("--out", str(tmp_path / f"actions{n}.jsonl"), "--outcomes", str(out)),
            ],
        )
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    outcomes = [orjson.loads(line) for line in outputs[0].splitlines()]
    assert choices_of(outcomes) == {c.customer: c.arm for c in run.choices}
    actions = [orjson.loads(x) for x in (tmp_path / "actions1.jsonl").read_bytes().splitlines()]
    assert {a["customer_id"]: a["variant"] for a in actions} == {
        c.customer: c.arm for c in run.choices
    }


def test_a_global_time_order_replays_fixed_journeys_exactly_as_per_customer() -> None:
    """The time-ordered loop (timers among everyone's events) changes nothing for journeys
    without adaptive steps: the same outputs as the per-customer replay."""
    from tests.unit.test_journey_agent import engine, events

    evs = events(400, seed=9)
    until = evs[-1]["ts"] + 3 * 86_400_000
    per_customer = replay([dict(e) for e in evs], engine(), until=until)
    in_order = replay_in_time_order([dict(e) for e in evs], engine(), until=until)
    assert orjson.dumps(in_order.actions) == orjson.dumps(per_customer.actions)
    assert orjson.dumps(in_order.decisions) == orjson.dumps(per_customer.decisions)
    assert orjson.dumps(in_order.outcomes) == orjson.dumps(per_customer.outcomes)
    assert per_customer.actions  # the comparison is worth something


# -- holdout, decide, event rewards ----------------------------------------------------------


def test_the_holdout_keeps_the_fixed_split() -> None:
    doc = copy.deepcopy(SPLIT_JOURNEY)
    doc["steps"][1]["adaptive"]["holdout"] = 0.2
    plan = ArmsPlan(journey=doc, step="pick", rates=RATES, entries=2000)
    run = run_arms(plan, engine_for())
    held = [c for c in run.choices if c.mode == "holdout"]
    assert 0.16 < len(held) / len(run.choices) < 0.24
    for c in held:  # the spec's split draw, whatever the learner knows
        assert c.arm == ("A" if split_draw("offer_test", "pick", c.customer) < 0.5 else "B")
    learned = [c for c in run.choices[1000:] if c.mode != "holdout"]
    assert sum(c.arm == "B" for c in learned) / len(learned) > 0.75


DECIDE_JOURNEY: dict[str, Any] = {
    "id": "nba_test",
    "version": 1,
    "trigger": {"event": "CartAbandoned"},
    "steps": [
        {
            "id": "offer",
            "decide": {
                "propensity": "intent",
                "options": [
                    {"id": "discount", "value": 1.0, "channel": "email", "template": "cart_offer"},
                    {
                        "id": "reminder",
                        "value": 1.0,
                        "channel": "push",
                        "template": "cart_reminder",
                    },
                    {"id": "nothing", "value": 1.0},
                    {
                        "id": "vip",
                        "value": 1.0,
                        "channel": "sms",
                        "template": "cart_callback",
                        "when": "false",
                    },
                ],
            },
            "adaptive": {
                "reward": {"event": "OrderPlaced", "when": "event.properties.total > 10.0"},
                "floor": 0.03,
            },
        },
        {"id": "wait", "wait_for": {"event": "OrderPlaced", "timeout": "1d"}},
    ],
}


def test_an_adaptive_decide_learns_from_an_event_reward_among_eligible_options() -> None:
    rates = {"discount": 0.03, "reminder": 0.10, "nothing": 0.02}
    plan = ArmsPlan(
        journey=DECIDE_JOURNEY, step="offer", rates=rates, entries=4000, reward_event="OrderPlaced"
    )
    run = run_arms(plan, engine_for())
    assert {c.arm for c in run.choices} == {"discount", "reminder", "nothing"}  # vip: never
    assert run.best_share("reminder", 1000)[-1] > 0.8
    result = replay([validate_event(e) for e in run.events], engine_for()(DECIDE_JOURNEY))
    decided = [o for o in result.outcomes if o["kind"] == "decided"]
    assert all(o["adaptive"] in ("explore", "exploit") for o in decided)
    vip = [s for o in decided for s in o["options"] if s["id"] == "vip"]
    assert all(s == {"id": "vip", "eligible": False, "score": None} for s in vip)
    rewarded = [o for o in result.outcomes if o["kind"] == "rewarded"]
    assert rewarded and {o["reward"] for o in rewarded} == {"OrderPlaced"}
    assert len(rewarded) == sum(c.converted for c in run.choices)


def test_a_reward_that_fails_its_condition_counts_nothing() -> None:
    doc = copy.deepcopy(DECIDE_JOURNEY)
    doc["steps"][0]["adaptive"]["reward"]["when"] = "event.properties.total > 100.0"
    plan = ArmsPlan(
        journey=doc, step="offer", rates={"reminder": 0.5}, entries=300, reward_event="OrderPlaced"
    )
    run = run_arms(plan, engine_for())
    assert any(c.converted for c in run.choices)
    result = replay([validate_event(e) for e in run.events], engine_for()(doc))
    assert not [o for o in result.outcomes if o["kind"] == "rewarded"]


# -- definitions -------------------------------------------------------------------------------


def test_definitions_that_cannot_learn_are_refused_with_the_reason() -> None:
    on_a_send = copy.deepcopy(SPLIT_JOURNEY)
    on_a_send["steps"][2]["adaptive"] = {"reward": "goal"}
    no_goal = copy.deepcopy(SPLIT_JOURNEY)
    del no_goal["goal"]
    greedy = copy.deepcopy(SPLIT_JOURNEY)
    greedy["steps"][1]["adaptive"]["floor"] = 0.6
    found = {
        name: journey_semantic_problems(doc)
        for name, doc in (("send", on_a_send), ("goal", no_goal), ("floor", greedy))
    }
    assert found["send"] == [
        (("steps", 2, "adaptive"), "adaptive is for split and decide steps only")
    ]
    assert found["goal"][0][0] == ("steps", 1, "adaptive", "reward")
    assert "needs the journey's goal" in found["goal"][0][1]
    assert found["floor"][0][0] == ("steps", 1, "adaptive", "floor")
    assert journey_semantic_problems(SPLIT_JOURNEY) == []
    for doc in (on_a_send, no_goal, greedy):
        with pytest.raises(CompileError):
            Engine([doc])


def test_segue_journeys_validate_accepts_an_adaptive_journey_and_names_a_bad_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(SPLIT_JOURNEY))
    bad = copy.deepcopy(DECIDE_JOURNEY)
    bad["steps"][0]["adaptive"]["reward"] = {"when": "true"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(cli, ["journeys", "validate", str(tmp_path)])
    assert result.exit_code != 0
    assert "bad.yaml: steps[0].adaptive.reward" in result.output
    assert "good.yaml" not in result.output
    assert "1 of 2 journeys valid" in result.output


def test_the_example_adaptive_journey_is_valid() -> None:
    doc = yaml.safe_load((ROOT / "journeys" / "adaptive" / "cart_offer_adaptive.yaml").read_text())
    assert journey_semantic_problems(doc) == []
    Engine([doc])


def test_exploration_floor_is_another_name_for_the_floor(tmp_path: Path) -> None:
    named = copy.deepcopy(SPLIT_JOURNEY)
    named["steps"][1]["adaptive"] = {
        "reward": "goal",
        "exploration_floor": 0.2,
        "algorithm": "thompson",
    }
    assert Engine([named]).latest["offer_test"].steps[1].adaptive.floor == 0.2  # type: ignore[union-attr]
    both = copy.deepcopy(named)
    both["steps"][1]["adaptive"]["floor"] = 0.1
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(both))
    (tmp_path / "named.yaml").write_text(yaml.safe_dump({**named, "id": "named"}))
    result = CliRunner().invoke(cli, ["journeys", "validate", str(tmp_path)])
    assert "both.yaml: steps[1].adaptive" in result.output
    assert "floor or exploration_floor, not both" in result.output
    assert "named.yaml" not in result.output


def test_a_variant_of_weight_0_is_never_an_arm() -> None:
    doc = copy.deepcopy(SPLIT_JOURNEY)
    doc["steps"][1]["split"].append({"variant": "C", "weight": 0, "goto": "send_b"})
    doc["steps"][1]["adaptive"]["floor"] = 0.5  # two arms may share all the traffic
    plan = ArmsPlan(journey=doc, step="pick", rates={**RATES, "C": 0.9}, entries=800)
    run = run_arms(plan, engine_for())
    assert {c.arm for c in run.choices} == {"A", "B"}
    assert {c.mode for c in run.choices} == {"explore"}  # a floor of 0.5 x 2 arms: all of it


def test_the_picture_says_the_split_learns() -> None:
    from app.core.journeys.flow import edges

    labels = [e.label for e in edges(SPLIT_JOURNEY["steps"]) if e.kind == "split"]
    assert labels == ["A (adaptive)", "B (adaptive)"]
    fixed = [e.label for e in edges(without_adaptive(SPLIT_JOURNEY)["steps"]) if e.kind == "split"]
    assert fixed == ["A (50%)", "B (50%)"]


def test_control_entries_take_the_fixed_split_and_teach_nothing() -> None:
    doc = copy.deepcopy(SPLIT_JOURNEY)
    doc["holdout"] = 0.3  # the journey's control group: nothing is sent to it
    plan = ArmsPlan(journey=doc, step="pick", rates=RATES, entries=600)
    run = run_arms(plan, engine_for())
    engine = engine_for()(doc)
    result = replay([validate_event(e) for e in run.events], engine)
    control = {o["customer_id"] for o in result.outcomes if o["kind"] == "entered" and o["control"]}
    assert 0.2 < len(control) / 600 < 0.4
    picks = [o for o in result.outcomes if o["kind"] == "step" and o["step"] == "pick"]
    for o in picks:
        if o["customer_id"] in control:  # the spec's split, no learner
            assert "adaptive" not in o
            assert o["variant"] == (
                "A" if split_draw("offer_test", "pick", o["customer_id"]) < 0.5 else "B"
            )
        else:
            assert o["adaptive"] in ("explore", "exploit")
    rewarded = {o["customer_id"] for o in result.outcomes if o["kind"] == "rewarded"}
    assert rewarded and not rewarded & control
    converted = {c.customer for c in run.choices if c.converted}
    assert converted & control  # control customers did convert: the learner did not count them
    pulls = sum(
        p
        for book in engine.arms._books.values()
        for w in book["w"].values()
        for arms in w.values()
        for p, _ in arms.values()
    )
    assert pulls == len(picks) - len(control & {o["customer_id"] for o in picks})
