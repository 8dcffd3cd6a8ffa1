"""`segue report` on N outcome records: time and peak memory of the real command.

    .venv/bin/python bench/report_scale.py [--records 1000000]

The records are those of a real replay (six simulated hours, the example journeys, policies.yaml
and the models), cloned with their customer ids rewritten until there are ``--records`` of them,
so the mix of kinds, journeys and entries per customer is the replay's. Then `segue report`
reads the file as an analyst would run it (a subprocess; wall time and peak RSS from wait4).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def segue(*args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one `segue` command."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *args], cwd=ROOT, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"segue {' '.join(args)} failed:\n{err.read().decode()}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segue-report-scale-") as tmp:
        folder = Path(tmp)
        events, seed = folder / "events.jsonl", folder / "seed.jsonl"
        segue(
            "simulate",
            "--rate",
            "20",
            "--duration",
            "21600",
            "--seed",
            "7",
            "--out",
            str(events),
            "--quiet",
        )
        segue(
            *("replay", "--events", str(events), "--journeys", "journeys"),
            *("--policies", "policies.yaml", "--models", "models"),
            *("--out", str(folder / "actions.jsonl"), "--outcomes", str(seed)),
            *("--until", "2026-12-31T00:00:00Z"),
        )
        base = [orjson.loads(line) for line in seed.read_bytes().splitlines()]
        big = folder / "outcomes.jsonl"
        written = 0
        with big.open("wb") as out:
            copy = 0
            while written < args.records:
                for record in base:
                    if written >= args.records:
                        break
                    if copy:
                        record = {
                            **record,
                            "customer_id": f"{record['customer_id']}~{copy}",
                            "outcome_id": f"{record['outcome_id']}~{copy}",
                        }
                    out.write(orjson.dumps(record) + b"\n")
                    written += 1
                copy += 1
        size = big.stat().st_size / 1e6
        print(
            f"{written:,} outcome records ({size:,.0f} MB; {len(base):,} from the replay, cloned {copy}x)"
        )
        wall, rss, out = segue("report", "--outcomes", str(big), "--out", str(folder / "report"))
        print(
            f"segue report: {wall:.1f} s wall, peak RSS {rss:,.0f} MB, {written / wall:,.0f} records/s"
        )
        print(out.splitlines()[0])


if __name__ == "__main__":
    main()
