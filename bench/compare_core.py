"""The pure core's engine, this tree against another checkout, side by side.

    .venv/bin/python bench/compare_core.py --base /path/to/other/tree [--rounds 4] [--repeat 3]

The machines are noisy, so a change on the engine's hot path is judged by a ratio measured in
one run: the same events through this tree's engine and through the other checkout's
(``git worktree add /tmp/base HEAD``), in alternating child processes. Each child decodes and
orders the events with its own code, then times the engine part only (``handle_event`` for every
event, one customer after another in (time, event_id) order, then ``advance``, as replay does) in
CPU time (``time.process_time``: the other sessions' load costs wall time, not this), best of
``--repeat`` passes. Two streams:

- ``sparse``: bench/core_replay.py's (100,000 events over 10,000 customers and 30 days, a web
  shop's mix that triggers every example journey): few events per customer per day;
- ``dense``: the simulator's (seed 7, 20 events/s for 2 h): ~26 events per customer, all within
  a day.

Prints each round's events/s, then per stream the medians and the ratio this tree / base.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def child(root: str, stream: str, repeat: int) -> None:
    sys.path.insert(0, root)
    from app.core.journeys import Engine, load_journeys, load_policies
    from app.core.journeys.replay import order_events, parse_events
    from app.core.profile import new_profile

    engine = Engine(
        load_journeys(Path(root) / "journeys"), load_policies(Path(root) / "policies.yaml")
    )
    with open(stream, "rb") as lines:
        events, skipped = parse_events(lines)
    assert not skipped
    ordered = order_events(events)
    end = ordered[-1]["ts"]
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for e in ordered:
        by_customer.setdefault(e["key"], []).append(e)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.process_time()
        for key, evs in by_customer.items():
            profile, jstate = new_profile(key), engine.new_state(key)
            for e in evs:
                engine.handle_event(profile, jstate, e)
            engine.advance(profile, jstate, end)
        best = min(best, time.process_time() - started)
        gc.enable()
    print(json.dumps({"events_per_s": len(ordered) / best}))


def write_streams(folder: Path) -> dict[str, Path]:
    import orjson

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from core_replay import generate

    from app.sim import DEFAULT_START_MS, simulate

    sparse = folder / "sparse.jsonl"
    sparse.write_bytes(b"\n".join(generate(100_000, 10_000)) + b"\n")
    dense = folder / "dense.jsonl"
    dense.write_bytes(
        b"".join(orjson.dumps(raw) + b"\n" for raw in simulate(7, 20.0, 7200.0, DEFAULT_START_MS))
    )
    return {"sparse": sparse, "dense": dense}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the other checkout's root")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.stream, args.repeat)
        return
    if not args.base:
        parser.error("--base is required")
    trees = {"base": str(Path(args.base).resolve()), "this": str(ROOT)}
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        streams = write_streams(Path(tmp))
        for n in range(1, args.rounds + 1):
            for stream, path in streams.items():
                for side, root in trees.items():  # alternating: the load hits both alike
                    command = [sys.executable, __file__, "--child", root, "--stream", str(path)]
                    command += ["--repeat", str(args.repeat)]
                    done = subprocess.run(command, capture_output=True, text=True, check=True)
                    rate = json.loads(done.stdout.splitlines()[-1])["events_per_s"]
                    results.setdefault((stream, side), []).append(rate)
                    print(f"round {n} {stream:6s} {side:4s} {rate:10,.0f} events/s", flush=True)
    for stream in streams:
        base = statistics.median(results[(stream, "base")])
        this = statistics.median(results[(stream, "this")])
        print(
            f"{stream:6s} median: base {base:,.0f}, this {this:,.0f} events/s, "
            f"ratio this/base {this / base:.3f}"
        )


if __name__ == "__main__":
    main()
