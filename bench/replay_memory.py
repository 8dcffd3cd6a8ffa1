"""`segue replay` on N simulated events: wall time and peak memory of the real command.

    .venv/bin/python bench/replay_memory.py [--events 10000000] [--base TREE] [--keep FILE]

The events come from the simulator (seed 7, 50 events/s of event time, its default pool of
about 20 events per customer), written once to a file; `segue replay` then runs on it as an
analyst would (a subprocess; wall time and peak RSS from wait4), with the example journeys,
policies.yaml, the models and --outcomes. With --base, the same command also runs from another
checkout (a worktree of an older commit), side by side in this run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 50.0


def run(tree: Path, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stderr's last line) of one `segue` command run in ``tree``."""
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *args], cwd=tree, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        err.seek(0)
        text = err.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"segue {' '.join(args)} failed in {tree}:\n{text}")
        return wall, usage.ru_maxrss / 1024, (text.strip().splitlines() or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--base", type=Path, help="another checkout to run side by side")
    parser.add_argument("--keep", type=Path, help="reuse (or write) the events file here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segue-replay-memory-") as tmp:
        folder = Path(tmp)
        events = args.keep or folder / "events.jsonl"
        if not events.exists():
            wall, _, _ = run(
                ROOT,
                "simulate",
                "--rate",
                str(RATE),
                "--duration",
                str(args.events / RATE),
                "--seed",
                "7",
                "--out",
                str(events),
                "--quiet",
            )
            print(f"simulated {args.events:,} events in {wall:.0f} s", flush=True)
        size = events.stat().st_size
        trees = [("this tree", ROOT)] + ([("base", args.base.resolve())] if args.base else [])
        print(f"input: {events} ({size / 1e9:.2f} GB)")
        print("| tree | events | wall s | events/s | peak RSS MB | summary |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, tree in trees:
            wall, rss, summary = run(
                tree,
                "replay",
                "--events",
                str(events),
                "--journeys",
                str(tree / "journeys"),
                "--policies",
                str(tree / "policies.yaml"),
                "--models",
                str(tree / "models"),
                "--out",
                str(folder / "actions.jsonl"),
                "--outcomes",
                str(folder / "outcomes.jsonl"),
            )
            rate = args.events / wall
            print(
                f"| {label} | {args.events:,} | {wall:.0f} | {rate:,.0f} | {rss:,.0f} | {summary} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
