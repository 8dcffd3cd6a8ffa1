"""An adaptive split live on the broker: the worker makes the choices the closed-loop
simulation made and `segue replay` makes, byte for byte, with the arm statistics of each
partition in its store.

The events are dated a day ahead of the wall clock and produced in time order (each
partition's time is its newest event), as in test_live_journeys.py. The journey reaches its
adaptive step both at the trigger and after a wait, so the worker's batches, which span hours of
event time while it catches up, must fire the timers the arm windows need before the events
that read them (app/worker/journeys.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from app.core.journeys import Engine
from app.core.journeys.bandit import Books
from app.core.timeutil import format_ms, parse_rfc3339
from app.sim.arms import ArmsPlan, run_arms
from tests.integration.live_support import (
    clock_events,
    live_actions,
    live_outcomes,
    produce_events,
    replayed_outcomes,
    run_replay,
    same_outcomes,
)
from tests.integration.support import Deployment
from tests.unit.runtime.test_adaptive_agent import MIXED
from tests.unit.test_adaptive import RATES, choices_of

DAY_MS = 86_400_000


def test_the_worker_makes_the_simulated_and_replayed_choices(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    partitions = deployment.settings.partitions

    def engine_for(doc: dict[str, Any]) -> Engine:
        engine = Engine([doc])
        engine.arms = Books(partitions)
        return engine

    start = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    plan = ArmsPlan(
        journey=MIXED, step="pick", rates=RATES, entries=800, per_hour=200, start_ms=start
    )
    run = run_arms(plan, engine_for)
    simulated = {c.customer: c.arm for c in run.choices}
    until_ms = max(parse_rfc3339(e["timestamp"]) for e in run.events) + 60_000
    events = run.events + clock_events(partitions, until_ms, "end")
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "offer.yaml").write_text(yaml.safe_dump(MIXED))
    policies = tmp_path / "policies.yaml"
    policies.write_text("")  # no policies, for both (the worker would take ./policies.yaml)

    replay_actions, _ = run_replay(
        tmp_path,
        events,
        *("--journeys", str(folder), "--policies", str(policies)),
        *("--until", format_ms(until_ms)),
    )
    replayed = replayed_outcomes(tmp_path)
    assert choices_of(replayed) == simulated
    assert {o["adaptive"] for o in replayed if o["kind"] == "step" and "adaptive" in o} == {
        "explore",
        "exploit",
    }
    assert any(o["kind"] == "rewarded" for o in replayed)

    worker = start_worker("0", "--journeys", str(folder), "--policies", str(policies))
    produce_events(deployment, events)
    want = {a["action_id"] for a in replay_actions}
    try:
        worker.wait_for("the replayed actions", lambda: want <= _ids(live_actions(deployment)), 120)
    except AssertionError:
        live = live_outcomes(deployment)
        got = choices_of(live)
        differ = sorted(c for c in simulated if got.get(c) != simulated[c])
        raise AssertionError(
            f"{len(want - _ids(live_actions(deployment)))} of {len(want)} actions missing; "
            f"{len(differ)} choices differ, first {[(c, got.get(c), simulated[c]) for c in differ[:5]]}"
            f"; {len(live)} outcomes live, {len(replayed)} replayed; live action "
            f"{live_actions(deployment)[:1]}; replayed {replay_actions[:1]}; "
            f"{sum(o['kind'] == 'sent' for o in live)} sent live, "
            f"{sum(o['kind'] == 'sent' for o in replayed)} replayed\n{worker.log()[-3000:]}"
        ) from None
    assert _ids(live_actions(deployment)) == want
    worker.wait_for(
        "the replayed outcomes",
        lambda: len({o["outcome_id"] for o in live_outcomes(deployment)}) >= len(replayed),
        120,
    )
    live = live_outcomes(deployment)
    same_outcomes(live, replayed)
    assert choices_of(live) == simulated


def _ids(actions: list[dict[str, Any]]) -> set[str]:
    return {a["action_id"] for a in actions}
