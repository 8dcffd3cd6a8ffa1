"""What identity resolution costs per event in the pure core (no Kafka, no RocksDB).

Usage (from the repository root):
    .venv/bin/python bench/identity_cost.py [--hours H] [--rate R] [--repeat N]

The stream is the simulator's (seed 7; its real mix of anonymous, customer and Identify events).
A second variant adds ``context.identifiers`` the way an SDK would: a device id on every event
of a person's device and an email hash on every Identify. Reported per event, best of N passes:

  resolve        identifiers_of + dict look-ups of their rows + resolve + writing the new rows
                 (a dict stands for the identity table; the RocksDB read is the shell's cost)
  fold           profile.fold (this branch: attributes and consent with per-key times)
  fold (base)    the base's fold rule for traits and consent (update, no times), for comparison
And per merge: merge_profiles of an anonymous profile into its customer's, Engine.merge_state.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.envelope import validate_event  # noqa: E402
from app.core.identity import IdentityConfig, identifiers_of, resolve  # noqa: E402
from app.core.journeys import Engine, load_journeys, load_policies  # noqa: E402
from app.core.profile import TRAIT_EVENTS, fold, new_profile  # noqa: E402
from app.core.profile_merge import merge_profiles  # noqa: E402
from app.core.session import fold_session  # noqa: E402
from app.paths import JOURNEYS_DIR  # noqa: E402
from app.sim import DEFAULT_START_MS, simulate  # noqa: E402


def best_ns(run: Callable[[], None], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - started) / count)
    return best


def with_identifiers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stream with SDK identifiers: a device per person, an email hash on Identify."""
    out = []
    for e in events:
        e = copy.deepcopy(e)
        person = e["anonymous_id"] or e["customer_id"]
        ids = {"device_id": hashlib.sha1(person.encode()).hexdigest()[:16]}
        if e["type"] == "Identify":
            email = e["properties"].get("email") or e["customer_id"]
            ids["email_hash"] = hashlib.sha256(str(email).encode()).hexdigest()
        e["context"] = {**e["context"], "identifiers": ids}
        out.append(e)
    return out


def resolve_all(events: list[dict[str, Any]], config: IdentityConfig) -> dict[str, Any]:
    table: dict[str, Any] = {}
    get = table.get
    for e in events:
        ids = identifiers_of(e, config)
        rows = {}
        for ident in ids:
            row = get(ident)
            if row is not None:
                rows[ident] = row
        result = resolve(e, rows, config)
        if result.links:
            table.update(result.links)
    return table


def base_fold(profile: dict[str, Any], event: dict[str, Any]) -> None:
    """The base commit's fold (latest processed wins, no times), for the comparison."""
    etype = event["type"]
    ts = event["ts"]
    counts = profile["counts"]
    counts[etype] = counts.get(etype, 0) + 1
    if profile["first_seen"] is None or ts < profile["first_seen"]:
        profile["first_seen"] = ts
    if profile["last_seen"] is None or ts > profile["last_seen"]:
        profile["last_seen"] = ts
    props = event["properties"]
    if etype in TRAIT_EVENTS:
        profile["attributes"].update(props)
    elif etype == "ConsentUpdated":
        channel, granted = props.get("channel"), props.get("granted")
        if isinstance(channel, str) and isinstance(granted, bool):
            profile["consent"][channel] = granted
    elif etype == "TicketOpened":
        profile["open_tickets"] += 1
    elif etype == "TicketClosed":
        profile["open_tickets"] = max(0, profile["open_tickets"] - 1)
    elif etype == "OrderPlaced":
        total = props.get("total")
        if isinstance(total, int | float) and not isinstance(total, bool):
            profile["lifetime_value"] += float(total)
    fold_session(profile, event)


def fold_all(events: list[dict[str, Any]], step: Callable[..., Any]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for e in events:
        p = profiles.get(e["key"])
        if p is None:
            p = profiles[e["key"]] = new_profile(e["key"])
        step(p, e)
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    events = [
        validate_event(raw)
        for raw in simulate(7, args.rate, args.hours * 3600.0, DEFAULT_START_MS)  # type: ignore[arg-type]
    ]
    enriched = with_identifiers(events)
    config = IdentityConfig()
    n = len(events)
    anonymous = sum(1 for e in events if e["customer_id"] is None)
    both = sum(1 for e in events if e["customer_id"] and e["anonymous_id"])
    print(f"{n} events: {anonymous} anonymous only, {both} with both ids")
    table = resolve_all(events, config)
    print(f"identity rows after the stream: {len(table)}")
    rows = [
        ("resolve (envelope ids only)", lambda: resolve_all(events, config)),
        ("resolve (+ device id, email hash)", lambda: resolve_all(enriched, config)),
        ("fold (per-key times)", lambda: fold_all(events, fold)),
        ("fold (base rule, no times)", lambda: fold_all(events, base_fold)),
    ]
    for name, run in rows:
        print(f"{name:36s} {best_ns(run, n, args.repeat) / 1000:7.2f} us/event")

    # merges: each Identify's anonymous profile folded into its customer's profile
    profiles = fold_all(events, fold)
    pairs = [
        (profiles[e["customer_id"]], profiles[e["anonymous_id"]])
        for e in events
        if e["type"] == "Identify" and e["anonymous_id"] in profiles
    ]
    copies = [(copy.deepcopy(c), a) for c, a in pairs]

    def merge_all() -> None:
        for c, a in copies:
            merge_profiles(copy.deepcopy(c), a)

    def copy_only() -> None:
        for c, _ in copies:
            copy.deepcopy(c)

    if pairs:
        cost = best_ns(merge_all, len(pairs), args.repeat) - best_ns(copy_only, len(pairs), 3)
        print(f"{'merge_profiles':36s} {cost / 1000:7.2f} us/merge ({len(pairs)} merges)")
    engine = Engine(load_journeys(JOURNEYS_DIR), load_policies(ROOT / "policies.yaml"))
    states: dict[str, Any] = {}
    live: dict[str, Any] = {}  # the engine folds its own profiles
    for e in events:
        p = live.setdefault(e["key"], new_profile(e["key"]))
        s = states.setdefault(e["key"], engine.new_state(e["key"]))
        engine.handle_event(p, s, e)
    jpairs = [(states[c["id"]], states[a["id"]]) for c, a in pairs]

    def merge_states_all() -> None:
        for c, a in jpairs:
            engine.merge_state(copy.deepcopy(c), a, 0)

    def copy_states() -> None:
        for c, _ in jpairs:
            copy.deepcopy(c)

    if jpairs:
        cost = best_ns(merge_states_all, len(jpairs), args.repeat) - best_ns(
            copy_states, len(jpairs), 3
        )
        active = sum(len(a["entries"]) for _, a in jpairs)
        print(f"{'Engine.merge_state':36s} {cost / 1000:7.2f} us/merge ({active} active entries)")


if __name__ == "__main__":
    main()
