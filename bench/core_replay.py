"""Replay throughput of the pure core: seeded events through the example journeys and policies.

    python bench/core_replay.py            # 1,000,000 events over 100,000 customers
    python bench/core_replay.py --quick    # 100,000 events over 10,000 customers
    python bench/core_replay.py --profile  # also print the top costs (cProfile)
    python bench/core_replay.py --write /tmp/events.jsonl   # keep the events for `segue replay`

Reports events/s for the whole replay (decode + validate + order + engine) and for the engine
alone, and the serialized (orjson) journey-state size per active entry at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.journeys.definitions import load_journeys, load_policies  # noqa: E402
from app.core.journeys.engine import Engine  # noqa: E402
from app.core.journeys.replay import order_events, parse_events  # noqa: E402
from app.core.profile import new_profile  # noqa: E402
from app.core.timeutil import format_ms, parse_rfc3339  # noqa: E402

START = parse_rfc3339("2026-11-01T00:00:00Z")
SPAN = 30 * 86_400_000  # events spread over 30 days

# (type, weight): a web shop's mix, with the events the example journeys trigger on
MIX = [
    ("PageViewed", 30),
    ("ProductViewed", 18),
    ("SessionStarted", 10),
    ("CartUpdated", 8),
    ("CartAbandoned", 5),
    ("CheckoutStarted", 3),
    ("OrderPlaced", 3),
    ("ProfileUpdated", 3),
    ("Identify", 2),
    ("MessageDelivered", 4),
    ("MessageOpened", 2),
    ("PaymentFailed", 1),
    ("PaymentSucceeded", 2),
    ("TicketOpened", 1),
    ("TicketClosed", 1),
    ("ConsentUpdated", 1),
    ("SignedUp", 1),
    ("OnboardingStepCompleted", 2),
    ("AppointmentBooked", 1),
    ("AppointmentMissed", 1),
    ("Unsubscribed", 0.2),
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Nowhere/Bad"]


def _properties(rng: random.Random, etype: str, n: int) -> dict[str, object]:
    if etype in ("PageViewed", "ProductViewed"):
        extra = {"product_id": f"p-{n % 500}", "price": 19.9} if etype == "ProductViewed" else {}
        return {
            **extra,
            "session_id": f"s-{n % 97}",
            "page_type": rng.choice(["administrative", "informational", "product_related"]),
            "duration_s": round(rng.random() * 120, 2),
            "bounce_rate": round(rng.random() * 0.2, 4),
            "exit_rate": round(rng.random() * 0.2, 4),
            "page_value": round(rng.random() * 50, 2),
            "url": f"/p/{n % 1000}",
        }
    if etype in ("CartUpdated", "CartAbandoned", "CheckoutStarted"):
        return {"cart_value": round(rng.random() * 200, 2), "items": rng.randint(1, 5)}
    if etype == "OrderPlaced":
        return {"order_id": f"o-{n}", "total": round(rng.random() * 200, 2), "items": 2}
    if etype == "PaymentFailed":
        return {"order_id": f"o-{n}", "amount": 42.0, "reason": "card_declined"}
    if etype == "PaymentSucceeded":
        return {"order_id": f"o-{n}", "amount": 42.0}
    if etype == "ProfileUpdated":
        return {
            "timezone": rng.choice(ZONES),
            "tenure": rng.randint(0, 72),
            "contract": rng.choice(["Month-to-month", "One year", "Two year"]),
            "monthly_charges": round(rng.random() * 100, 2),
            "plan": rng.choice(["basic", "pro"]),
        }
    if etype == "Identify":
        return {"email": f"u{n}@example.com", "name": f"User {n}"}
    if etype == "TicketOpened":
        return {"ticket_id": f"t-{n}", "severity": rng.choice(["low", "medium", "high"])}
    if etype == "TicketClosed":
        return {"ticket_id": f"t-{n}"}
    if etype == "ConsentUpdated":
        return {"channel": rng.choice(["sms", "email", "push"]), "granted": rng.random() < 0.5}
    if etype == "SignedUp":
        return {"plan": "basic"}
    if etype == "OnboardingStepCompleted":
        return {"step": rng.choice(["profile", "first_project", "invite"])}
    if etype.startswith("Appointment"):
        return {"appointment_id": f"a-{n % 50}", "at": format_ms(START)}
    if etype.startswith("Message"):
        return {"action_id": "x", "channel": "email", "journey": "cart_recovery"}
    return {}


def generate(events: int, customers: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    chosen = rng.choices(types, weights=weights, k=events)
    lines = []
    for n, etype in enumerate(chosen):
        customer = f"c-{rng.randrange(customers)}"
        ts = START + rng.randrange(SPAN)
        envelope = {
            "event_id": f"e-{n}",
            "type": etype,
            "customer_id": customer,
            "anonymous_id": None,
            "timestamp": format_ms(ts),
            "properties": _properties(rng, etype, n),
            "context": {"channel": "web"},
        }
        lines.append(orjson.dumps(envelope))
    return lines


def run(engine: Engine, events: list[dict[str, object]]) -> tuple[int, int, int, int]:
    """Replay ordered events; returns (actions, decisions, active entries, state bytes)."""
    by_customer: dict[str, list[dict[str, object]]] = {}
    for e in events:
        by_customer.setdefault(str(e["key"]), []).append(e)
    actions = decisions = entries = size = 0
    end = int(events[-1]["ts"])  # type: ignore[call-overload]
    half = START + SPAN // 2
    for key, evs in by_customer.items():
        profile = new_profile(key)
        jstate = engine.new_state(key)
        for e in evs:
            out = engine.handle_event(profile, jstate, e)
            actions += len(out.actions)
            decisions += len(out.decisions)
        # state size is measured before the final advance, while entries are still running
        if jstate["entries"]:
            entries += len(jstate["entries"])
            size += len(orjson.dumps(jstate))
        out = engine.advance(profile, jstate, max(end, half))
        actions += len(out.actions)
        decisions += len(out.decisions)
    return actions, decisions, entries, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k events, 10k customers")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine part")
    parser.add_argument("--write", metavar="FILE", help="also write the events as JSONL (for CLI)")
    parser.add_argument("--journeys", default=str(ROOT / "journeys"))
    parser.add_argument("--policies", default=str(ROOT / "policies.yaml"))
    args = parser.parse_args()
    n_events, n_customers = (100_000, 10_000) if args.quick else (1_000_000, 100_000)

    engine = Engine(load_journeys(args.journeys), load_policies(args.policies))
    t0 = time.perf_counter()
    lines = generate(n_events, n_customers)
    t1 = time.perf_counter()
    print(f"generated {n_events:,} events over {n_customers:,} customers in {t1 - t0:.1f}s")
    print(f"journeys: {sorted(engine.latest)}")
    if args.write:
        Path(args.write).write_bytes(b"\n".join(lines) + b"\n")

    gc.disable()  # as `segue replay` does: the bulk of small dicts holds no cycles
    t0 = time.perf_counter()
    events, skipped = parse_events(lines)
    t1 = time.perf_counter()
    ordered = order_events(events)
    t2 = time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    actions, decisions, entries, size = run(engine, ordered)
    if profiler:
        profiler.disable()
    t3 = time.perf_counter()
    gc.enable()
    assert not skipped
    print(f"decode+validate: {n_events / (t1 - t0):>10,.0f} events/s ({t1 - t0:.2f}s)")
    print(f"order:           {n_events / (t2 - t1):>10,.0f} events/s ({t2 - t1:.2f}s)")
    print(f"engine:          {n_events / (t3 - t2):>10,.0f} events/s ({t3 - t2:.2f}s)")
    print(f"whole replay:    {n_events / (t3 - t0):>10,.0f} events/s ({t3 - t0:.2f}s)")
    print(f"actions {actions:,}, decisions {decisions:,}, failures {engine.failures}")
    if entries:
        print(f"state: {entries:,} active entries, {size / entries:.0f} bytes per active entry")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumtime").print_stats(30)


if __name__ == "__main__":
    main()
