"""How big a stored profile is, and what folding one event costs, on the simulator's traffic.

Usage (from the repository root):
    .venv/bin/python bench/profile_bytes.py [--hours H] [--rate R] [--repeat N]

The stream is the simulator's (seed 7). Every event is folded into its key's profile (as the
journey agent does, without identity resolution); then each profile is serialised with orjson,
as the profiles table stores it. Reported: profiles, bytes per profile (mean, median, p95, max)
with and without the handoff lists ``recent`` / ``transcript`` (app/core/handoff.py), and per
event, best of N interleaved passes, with and without ``note_event`` (which keeps those lists):
``fold`` and the whole core (``Engine.handle_event`` with the example journeys and policies).
Also the journey state per customer after the engine's run, with and without ``seen`` (the ids
remembered to drop duplicates, app/core/duplicates.py): the whole stream lies within its 24 h
window, so every event's id is there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import app.core.profile as profile_module  # noqa: E402
from app.core.envelope import validate_event  # noqa: E402
from app.core.journeys import Engine, load_journeys, load_policies  # noqa: E402
from app.core.profile import fold, new_profile  # noqa: E402
from app.paths import JOURNEYS_DIR  # noqa: E402
from app.sim import DEFAULT_START_MS, simulate  # noqa: E402

HANDOFF_FIELDS = ("recent", "transcript")


def best_ns(run: Callable[[], Any], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - started) / count)
    return best


def fold_all(events: list[dict[str, Any]]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for e in events:
        p = profiles.get(e["key"])
        if p is None:
            p = profiles[e["key"]] = new_profile(e["key"])
        fold(p, e)
    return profiles


def run_engine(engine: Engine, events: list[dict[str, Any]]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    states: dict[str, Any] = {}
    for e in events:
        key = e["key"]
        p = profiles.get(key)
        if p is None:
            p = profiles[key] = new_profile(key)
            states[key] = engine.new_state(key)
        engine.handle_event(p, states[key], e)
    return states


def report(name: str, values: list[Any]) -> None:
    sizes = sorted(len(orjson.dumps(v)) for v in values)
    p95 = sizes[int(0.95 * (len(sizes) - 1))]
    print(
        f"bytes/{name}: mean {statistics.fmean(sizes):.0f}, "
        f"median {statistics.median(sizes):.0f}, p95 {p95}, max {sizes[-1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = [
        validate_event(raw)
        for raw in simulate(7, args.rate, args.hours * 3600.0, DEFAULT_START_MS)  # type: ignore[arg-type]
    ]
    n = len(events)
    profiles = fold_all(events)
    print(f"{n} events, {len(profiles)} profiles ({n / len(profiles):.1f} events each)")
    without = [{k: v for k, v in p.items() if k not in HANDOFF_FIELDS} for p in profiles.values()]
    report("profile with the handoff lists", list(profiles.values()))
    report("profile without the handoff lists", without)
    engine = Engine(load_journeys(JOURNEYS_DIR), load_policies(ROOT / "policies.yaml"))
    states = list(run_engine(engine, events).values())
    report("journey state", states)
    report(
        "journey state without seen", [{k: v for k, v in s.items() if k != "seen"} for s in states]
    )
    report("seen ids (the entry in the state)", [{"seen": s.get("seen", {})} for s in states])
    note_event = profile_module.note_event
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved: a shared machine's load hits both alike
        for name, hook in (("with", note_event), ("without", lambda _p, _e: None)):
            profile_module.note_event = hook  # type: ignore[assignment]
            for what, run in (
                ("fold", lambda: fold_all(events)),
                ("Engine.handle_event", lambda: run_engine(engine, events)),
            ):
                cost = best_ns(run, n, 1)
                best[f"{what} {name}"] = min(best.get(f"{what} {name}", cost), cost)
    profile_module.note_event = note_event
    for key, cost in best.items():
        print(f"{key:32s} {cost / 1000:6.2f} us/event")


if __name__ == "__main__":
    main()
