"""``decode_event`` on one typical event, per call, two checkouts side by side.

    python bench/envelope_cost.py BASE_ROOT [NEW_ROOT] [--rounds N] [--simulated]

Each round runs each checkout in its own process (both are packages named ``app``), 20,000
calls best of 15, alternating, so the machine's noise hits both alike; the ratio is the figure.
``--simulated``: instead of one typical event, the simulator's 20,000 events (seed 3, 200/s for
100 s; nested properties and context, as live traffic has), each decoded once per pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time, orjson
sys.path.insert(0, sys.argv[1])
from app.core.envelope import decode_event
raw = orjson.dumps({"event_id": "e-123456", "type": "CartAbandoned", "customer_id": "c-000123",
    "timestamp": "2026-03-02T10:00:01.250Z",
    "properties": {"cart_value": 50.5, "items": 3, "currency": "EUR"}, "context": {"device": "web"}})
raws = [raw] * 20000
if len(sys.argv) > 2:  # --simulated
    from app.sim import simulate
    raws = [orjson.dumps(e) for e in simulate(3, 200, 100, 1795910400000) if isinstance(e, dict)]
best = 1e9
for _ in range(15):
    t = time.perf_counter()
    for r in raws:
        decode_event(r)
    best = min(best, time.perf_counter() - t)
print(best / len(raws) * 1e6)
"""


def per_call_us(root: Path, simulated: bool = False) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), *(["simulated"] if simulated else [])],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 6
    base = Path(args[0]).resolve()
    new = Path(args[1]).resolve() if len(args) > 1 else HERE
    for _ in range(rounds):
        simulated = "--simulated" in sys.argv
        a, b = per_call_us(base, simulated), per_call_us(new, simulated)
        print(f"base {a:.3f} us  new {b:.3f} us  ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
