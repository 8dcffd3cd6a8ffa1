"""Generation speed of the simulator (dicts, one core, no serialisation).

    python tools/bench_sim.py RATE DURATION_S [CUSTOMERS]

Prints records, CPU seconds and records per CPU second.
"""

from __future__ import annotations

import sys
import time

from app.sim import DEFAULT_START_MS, simulate


def main() -> None:
    rate, duration = float(sys.argv[1]), float(sys.argv[2])
    customers = int(sys.argv[3]) if len(sys.argv) > 3 else None
    began = time.process_time()
    n = sum(1 for _ in simulate(1, rate, duration, DEFAULT_START_MS, customers=customers))
    spent = time.process_time() - began
    print(f"{n} records in {spent:.2f} CPU s: {n / spent:,.0f} records/s")


if __name__ == "__main__":
    main()
