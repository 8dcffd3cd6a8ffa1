"""Scale of state (issue 8): N customer profiles in the worker's RocksDB table and changelog.

    .venv/bin/python bench/scale_state.py --profiles 100000      # quick: a few minutes
    nice -n 10 .venv/bin/python bench/scale_state.py --profiles 1000000   # `make bench-scale`

On a fresh embedded broker (``--broker kafka``, the default, or ``tansu``), two deployments (topic prefixes) get a changelog of realistic
profiles each: a small one (``--small``, 10,000) and the big one (``--profiles``). The values
are what the journey agent stores, ``{"sources", "profile", "journeys"}``, as the runtime's
stores write them to their changelogs (key: the customer id in UTF-8, value: orjson), each
record in the partition the worker would write it to (murmur2 of the customer id, as the
customer-events topic); the due times go to the ``due`` store's changelog. They are cloned from templates:
the simulator's events folded by the pure core (``Engine.handle_event``), keys rewritten.

For each deployment a real ``segue worker`` then:
1. recovers the stores from the changelogs into an empty state folder (timed to the runtime's
   "assigned:" line, logged once every assigned partition's stores are recovered);
2. idles (RSS);
3. takes the same events (simulated, keys drawn at random among that deployment's customers):
   CPU seconds per 100k events, events/s, peak RSS; the big/small ratios come side by side;
4. stops; its RocksDB folder is flushed and compacted and measured (bytes per profile).

Tansu (app/stream/compat.py): its reported end offset is wrong when a partition's last batch
holds more than one record, and its fetches slow down with the number of batches in a partition
(bench/tansu_fetch.py), so the changelog goes in big batches with each partition's last record
alone in its batch. Tansu holds everything in memory (1M profiles: about 3.5 GB of RAM).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from app.broker.embedded import KafkaBroker, TansuBroker, free_port  # noqa: E402
from app.core.envelope import validate_event  # noqa: E402
from app.core.journeys import Engine, load_journeys, load_policies  # noqa: E402
from app.core.journeys.state import next_due  # noqa: E402
from app.core.timeutil import format_ms, parse_rfc3339  # noqa: E402
from app.partitioner import partition_for  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.sim import simulate  # noqa: E402
from app.stream.journey_agent import applied_before, new_record  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: the profiles' hour: ten days ahead of the wall clock, so that no loaded timer falls due by
#: the wall clock (a partition's time is the later of the wall clock and its newest event)
START_MS = (time.time_ns() // 1_000_000 // DAY_MS + 10) * DAY_MS
#: the cost events come this long after the profiles' hour, so every timer the profiles hold
#: is due by then: a warm-up fires them all before the measured phase (see catch_up)
LATER_MS = 30 * 24 * HOUR_MS
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY_WIDTH = 7  # c-0000000 .. c-9999999


def log(text: str) -> None:
    print(text, flush=True)


def customer_key(i: int) -> str:
    return f"c-{i:0{KEY_WIDTH}d}"


# ------------------------------------------------------------------------------------ profiles
def templates(engine: Engine, seed: int, events: int, customers: int) -> list[tuple[str, bytes]]:
    """Realistic table values: an hour of simulated traffic folded by the pure core.

    Returns (key, orjson value) per customer the hour touched, as the journey agent would
    store them (``applied_before`` keeps the redelivery guard's shape)."""
    records: dict[str, dict[str, Any]] = {}
    offsets: Counter[int] = Counter()
    for raw in simulate(seed, events / 3600, 3600, START_MS, customers):
        if not isinstance(raw, dict):
            continue
        event = validate_event(raw)
        key = event["key"]
        record = records.get(key)
        if record is None:
            record = records[key] = new_record(key)
            record["journeys"] = engine.new_state(key)
        partition = partition_for(key.encode(), 4)
        event["source"] = {
            "topic": "events.receipts",  # see clone(): a slot the cost events never hit
            "partition": partition,
            "offset": offsets[partition],
            "timestamp": event["ts"],
        }
        offsets[partition] += 1
        applied_before(record, event)
        engine.handle_event(record["profile"], record["journeys"], event)
    return [(key, orjson.dumps(rec)) for key, rec in records.items()]


def clone(template: tuple[str, bytes], key: str, receipts: str, partition: int) -> dict[str, Any]:
    """The template's value for another customer: every string equal to the old key rewritten.

    The redelivery guard's slot names the receipts topic (prefixed, the key's partition), so
    the cost events, which arrive on the events topic from offset 0, are never taken for
    repeats."""
    old, value = template
    record: dict[str, Any] = orjson.loads(value.replace(f'"{old}"'.encode(), f'"{key}"'.encode()))
    offset = next(iter(record["sources"].values()), 0)
    record["sources"] = {f"{receipts}/{partition}": offset}
    return record


def measure_state_dir(state_dir: Path, profiles: int) -> None:
    """Bytes per profile of a worker state folder (e.g. a copy taken while the worker was
    paused with SIGSTOP), after the same flush and compaction as a full run."""
    tables, timers = table_dirs(state_dir, "profiles"), table_dirs(state_dir, "due")
    before = sum(du(p) for p in tables)
    compact(tables + timers)
    after = sum(du(p) for p in tables)
    log(
        f"  {state_dir}: profiles table {before / 1e6:,.1f} MB, {after / 1e6:,.1f} MB flushed and "
        f"compacted = {after / profiles:,.0f} bytes/profile "
        f"(timers table {sum(du(p) for p in timers) / 1e6:,.1f} MB)"
    )


@dataclass
class Loaded:
    profiles: int
    timers: int
    value_sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0


def load_changelog(settings: Settings, pool: list[tuple[str, bytes]], n: int, seed: int) -> Loaded:
    """Write n profile records (and their timers) to the deployment's changelog topics."""
    names = TopicNames(settings)
    profiles_cl, timers_cl = names.profiles_changelog, names.timers_changelog
    # Tansu's fetch cost grows with the number of batches in a partition (bench/tansu_fetch.py:
    # one record per batch, reads fall from ~40k records/s at 5k records per partition to ~400/s
    # at 20k), so a changelog written one record per batch cannot be recovered at this size.
    # Its end offset defect only concerns the *last* batch: big batches, then one record
    # alone per partition, keep the end offsets exact and the reads fast.
    producer = Producer(
        settings.kafka_config(
            **{
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 500_000,
            }
        )
    )
    rng = random.Random(seed)
    loaded = Loaded(n, 0)
    began = last = time.monotonic()
    parts = settings.partitions
    receipts = names.receipts
    held: dict[tuple[str, int], tuple[bytes, bytes]] = {}  # the newest record per partition

    def produce(topic: str, key: bytes, value: bytes, partition: int) -> None:
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=partition)
                return
            except BufferError:
                producer.poll(0.05)

    def send(topic: str, key: bytes, value: bytes, partition: int) -> None:
        before = held.get((topic, partition))
        if before is not None:
            produce(topic, *before, partition)
        held[topic, partition] = (key, value)

    for i in range(n):
        key = customer_key(i)
        partition = partition_for(key.encode(), parts)
        record = clone(pool[rng.randrange(len(pool))], key, receipts, partition)
        fkey = key.encode()
        value = orjson.dumps(record)
        loaded.value_sizes.append(len(value))
        send(profiles_cl, fkey, value, partition)
        due = next_due(record["journeys"])
        if due is not None:
            send(timers_cl, fkey, orjson.dumps(due), partition)
            loaded.timers += 1
        producer.poll(0)
        if time.monotonic() - last > 15:
            last = time.monotonic()
            log(f"    changelog: {i + 1:,}/{n:,} profiles ({(i + 1) / (last - began):,.0f}/s)")
    producer.flush(600)
    for (topic, partition), (key, value) in held.items():
        produce(topic, key, value, partition)  # alone in its batch: the partition's last
    left = producer.flush(600)
    if left:
        raise SystemExit(f"{left} changelog records not delivered")
    loaded.seconds = time.monotonic() - began
    return loaded


def cost_events(seed: int, n: int) -> list[dict[str, Any]]:
    """The next hour's simulated events (without Identify, whose id linking is not the point):
    the same list goes to both deployments, each with its own random keys."""
    out: list[dict[str, Any]] = []
    start = START_MS + LATER_MS
    for raw in simulate(seed, n * 1.1 / 3600, 3600, start, max(n // 10, 100)):
        if isinstance(raw, dict) and raw["type"] != "Identify":
            out.append(raw)
            if len(out) == n:
                break
    return out


def produce_events(
    settings: Settings, events: list[dict[str, Any]], size: int | None, seed: int
) -> None:
    """Send the events with keys drawn among the deployment's `size` customers (batched);
    with `size` None, each event keeps its own customer id."""
    producer = Producer(
        settings.kafka_config(**{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
    )
    topic = TopicNames(settings).events
    rng = random.Random(seed)
    for event in events:
        key = customer_key(rng.randrange(size)) if size else event["customer_id"]
        value = orjson.dumps({**event, "customer_id": key, "anonymous_id": None})
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)


# -------------------------------------------------------------------------------------- worker
class Worker:
    """A real `segue worker` subprocess; CPU and RSS from /proc, counters from its metrics."""

    def __init__(self, settings: Settings, state_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "SEGUE_BROKER_PROFILE": settings.broker_profile,
            "SEGUE_TOPIC_PREFIX": settings.topic_prefix,
            "SEGUE_STATE_DIR": str(state_dir),
            "SEGUE_METRICS_PORT": str(self.port),
            "SEGUE_LOG_LEVEL": "info",  # the runtime's "assigned:" line marks the end of recovery
        }
        self.started = time.monotonic()
        with log_path.open("wb") as fh:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "app", "worker", "--processes", "1"],
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / CLK_TCK

    def status_mb(self, field_name: str) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def metric(self, name: str) -> float:
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + " ", name + "{"))
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(120)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def table_dirs(state_dir: Path, table: str) -> list[Path]:
    """A store's partition folders (the runtime's ``<agent>/<store>/<partition>``)."""
    return sorted(p for p in state_dir.rglob(f"{table}/*") if p.is_dir())


def compact(dirs: list[Path]) -> None:
    """Flush and fully compact each RocksDB (what a long-running store converges to)."""
    from rocksdict import Rdict

    for path in dirs:
        db = Rdict(str(path))
        db.flush()
        db.compact_range(None, None)
        db.close()


@dataclass
class Deployment:
    name: str
    size: int
    settings: Settings
    state_dir: Path
    loaded: Loaded | None = None
    figures: dict[str, float] = field(default_factory=dict)


RECOVERY_LINE = re.compile(r"recovered \S+changelog")


def recover(d: Deployment, tmp: Path, timeout_s: float) -> Worker:
    """Start a worker on an empty state folder; time until it is ready (recovery done)."""
    shutil.rmtree(d.state_dir, ignore_errors=True)
    worker = Worker(d.settings, d.state_dir, tmp / f"{d.name}-worker.log")
    last = time.monotonic()
    shown = 0
    restore_began = None
    while True:
        text = worker.log_text()
        if restore_began is None and " started (group " in text:
            restore_began = time.monotonic()
        if "assigned: " in text and "customer-events[" in text:
            break
        if not worker.alive():
            raise SystemExit(f"{d.name}: worker exited during recovery:\n{text[-3000:]}")
        if time.monotonic() - worker.started > timeout_s:
            raise SystemExit(f"{d.name}: stores not recovered after {timeout_s:.0f} s")
        if time.monotonic() - last > 15:
            last = time.monotonic()
            lines = [x for x in text.splitlines() if RECOVERY_LINE.search(x)]
            news = lines[shown:]
            shown = len(lines)
            state = du(d.state_dir) / 1e6 if d.state_dir.exists() else 0.0
            log(
                f"    recovering {d.name}: {last - worker.started:.0f} s, state folder "
                f"{state:,.0f} MB, RSS {worker.status_mb('VmRSS'):,.0f} MB"
                + (f"; {news[-1].strip()[-150:]}" if news else "")
            )
        time.sleep(0.2)
    ready = time.monotonic()
    total = d.size + (d.loaded.timers if d.loaded else 0)
    d.figures["ready_s"] = ready - worker.started
    d.figures["restore_s"] = ready - (restore_began or worker.started)
    d.figures["recovery_rps"] = total / max(d.figures["restore_s"], 1e-9)
    d.figures["recovery_cpu_s"] = worker.cpu_s()
    d.figures["recovery_peak_rss_mb"] = worker.status_mb("VmHWM")
    log(
        f"  {d.name}: ready {d.figures['ready_s']:.1f} s after start (restore "
        f"{d.figures['restore_s']:.1f} s = {d.figures['recovery_rps']:,.0f} records/s; "
        f"{total:,} records; worker CPU {d.figures['recovery_cpu_s']:.1f} s)"
    )
    return worker


def idle(d: Deployment, worker: Worker) -> None:
    time.sleep(5)  # settle after recovery
    d.figures["idle_rss_mb"] = worker.status_mb("VmRSS")


def catch_up(d: Deployment, worker: Worker, events: list[dict[str, Any]]) -> None:
    """Fire every timer the loaded profiles hold, before the measured phase.

    Timers are due by event time (each partition's newest event): one event per partition,
    just before the cost events' time, makes every loaded timer due. Waits until the ticks
    stop (the timer backlog is empty and no tick was handled for a while)."""
    first_ts = parse_rfc3339(events[0]["timestamp"])
    parts = d.settings.partitions
    keys: dict[int, str] = {}
    i = 0
    while len(keys) < parts and i < d.size:
        keys.setdefault(partition_for(customer_key(i).encode(), parts), customer_key(i))
        i += 1
    template = next(e for e in events if e["type"] == "SessionStarted")
    warm = [
        {
            **template,
            "event_id": f"warm-{p}",
            "customer_id": key,
            "timestamp": format_ms(first_ts - 60_000),
        }
        for p, key in sorted(keys.items())
    ]
    began = time.monotonic()
    ticks0 = worker.metric("segue_ticks_handled_total")
    updates0 = worker.metric("segue_profile_updates_total")
    produce_events(d.settings, warm, None, 0)
    while worker.metric("segue_profile_updates_total") - updates0 < len(warm):
        if not worker.alive() or time.monotonic() - began > 600:
            raise SystemExit(f"{d.name}: warm-up events not processed")
        time.sleep(0.1)
    seen, still_since, last = ticks0, time.monotonic(), time.monotonic()
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        ticks = worker.metric("segue_ticks_handled_total")
        if ticks != seen:
            seen, still_since = ticks, now
        # every loaded timer is due by the warm-up's time: wait for at least that many ticks
        # less one per warm-up event: a warm-up event for a customer with a loaded timer fires
        # it itself, without a tick
        expected = max(0, d.loaded.timers - len(warm)) if d.loaded else 0
        if seen - ticks0 >= expected and now - still_since > 12:
            break
        if now - began > 4 * 3600:
            raise SystemExit(f"{d.name}: timer catch-up unfinished after 4 hours")
        if not worker.alive():
            raise SystemExit(f"{d.name}: worker exited:\n{worker.log_text()[-3000:]}")
        if now - last > 15:
            last = now
            log(f"    {d.name}: timer catch-up, {ticks - ticks0:,.0f} ticks handled")
    took = still_since - began
    d.figures["catchup_ticks"] = seen - ticks0
    d.figures["catchup_s"] = took
    log(
        f"  {d.name}: timer catch-up: {seen - ticks0:,.0f} ticks handled in {took:.1f} s "
        f"({(seen - ticks0) / max(took, 1e-9):,.0f}/s)"
    )


def run_events(d: Deployment, worker: Worker, events: list[dict[str, Any]], seed: int) -> None:
    before = worker.metric("segue_profile_updates_total")
    created0 = worker.metric("segue_profiles_created_total")
    cpu0, t0 = worker.cpu_s(), time.monotonic()
    produce_events(d.settings, events, d.size, seed)
    first_at = None
    last = time.monotonic()
    while True:
        done = worker.metric("segue_profile_updates_total") - before
        now = time.monotonic()
        if done > 0 and first_at is None:
            first_at = now
        if done >= len(events):
            break
        if not worker.alive():
            raise SystemExit(f"{d.name}: worker exited:\n{worker.log_text()[-3000:]}")
        if now - t0 > 3600:
            raise SystemExit(f"{d.name}: {done:,.0f}/{len(events):,} events after an hour")
        if now - last > 15:
            last = now
            log(
                f"    {d.name}: {done:,.0f}/{len(events):,} events, RSS "
                f"{worker.status_mb('VmRSS'):,.0f} MB"
            )
        time.sleep(0.1)
    end = time.monotonic()
    cpu = worker.cpu_s() - cpu0
    d.figures["events_cpu_per_100k"] = cpu / len(events) * 100_000
    d.figures["events_per_s"] = len(events) / max(end - (first_at or t0), 1e-9)
    d.figures["created_during_events"] = worker.metric("segue_profiles_created_total") - created0
    d.figures["events_rss_mb"] = worker.status_mb("VmRSS")
    d.figures["peak_rss_mb"] = worker.status_mb("VmHWM")
    log(
        f"  {d.name}: {len(events):,} events: CPU {d.figures['events_cpu_per_100k']:.1f} s/100k, "
        f"{d.figures['events_per_s']:,.0f} events/s, RSS idle {d.figures['idle_rss_mb']:,.0f} MB"
        f" -> {d.figures['events_rss_mb']:,.0f} MB (peak {d.figures['peak_rss_mb']:,.0f} MB), "
        f"profiles created {d.figures['created_during_events']:,.0f}"
    )


def measure_disk(d: Deployment) -> None:
    profiles, timers = table_dirs(d.state_dir, "profiles"), table_dirs(d.state_dir, "due")
    if not profiles:
        raise SystemExit(f"{d.name}: no profiles-*.db under {d.state_dir}")
    d.figures["disk_raw_bytes"] = sum(du(p) for p in profiles)
    compact(profiles + timers)
    d.figures["disk_bytes"] = sum(du(p) for p in profiles)
    d.figures["timers_disk_bytes"] = sum(du(p) for p in timers)
    d.figures["bytes_per_profile"] = d.figures["disk_bytes"] / d.size
    log(
        f"  {d.name}: profiles table on disk {d.figures['disk_raw_bytes'] / 1e6:,.1f} MB at stop, "
        f"{d.figures['disk_bytes'] / 1e6:,.1f} MB flushed and compacted = "
        f"{d.figures['bytes_per_profile']:,.0f} bytes/profile (timers table "
        f"{d.figures['timers_disk_bytes'] / 1e6:,.1f} MB)"
    )


def pct(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000, help="the big table (N)")
    parser.add_argument("--small", type=int, default=10_000, help="the small table")
    parser.add_argument("--events", type=int, default=None, help="events per deployment")
    parser.add_argument("--keep", metavar="DIR", help="keep the worker logs in DIR")
    parser.add_argument(
        "--broker", choices=["kafka", "tansu"], default="kafka", help="the embedded broker"
    )
    parser.add_argument(
        "--measure-disk",
        metavar="STATE_DIR",
        help="only flush, compact and measure a (copied) worker state folder holding --profiles",
    )
    args = parser.parse_args()
    if args.measure_disk:
        measure_state_dir(Path(args.measure_disk), args.profiles)
        return
    n_events = args.events or (100_000 if args.profiles >= 1_000_000 else 20_000)
    log(
        f"# bench/scale_state.py --profiles {args.profiles:,} --small {args.small:,}: "
        f"{n_events:,} events per deployment; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    engine = Engine(load_journeys(ROOT / "journeys"), load_policies(ROOT / "policies.yaml"))
    t0 = time.monotonic()
    pool = templates(engine, 5, 200_000, 20_000)
    log(
        f"  templates: {len(pool):,} profiles folded from 200,000 simulated events "
        f"({time.monotonic() - t0:.1f} s)"
    )
    events = cost_events(6, n_events)

    tmp = Path(tempfile.mkdtemp(prefix="segue-scale-"))
    kinds = {"kafka": KafkaBroker, "tansu": TansuBroker}
    broker: Any = kinds[args.broker]("127.0.0.1", free_port(), tmp)
    broker.start()
    workers: list[Worker] = []
    deployments = [
        Deployment(name, size, settings, tmp / f"state-{name}")
        for name, size in (("small", args.small), ("big", args.profiles))
        for settings in [
            Settings(
                bootstrap_servers=broker.bootstrap,
                broker_profile=args.broker,
                topic_prefix=f"{name}{os.getpid()}.",
            )
        ]
    ]
    try:
        for d in deployments:
            apply_topics(d.settings)
            d.loaded = load_changelog(d.settings, pool, d.size, seed=11)
            sizes = d.loaded.value_sizes
            log(
                f"  {d.name}: {d.size:,} profiles (+{d.loaded.timers:,} timers) written to the "
                f"changelog in {d.loaded.seconds:.1f} s; value bytes (orjson) median "
                f"{pct(sizes, 0.5):,}, p90 {pct(sizes, 0.9):,}, mean "
                f"{sum(sizes) / len(sizes):,.0f}, total {sum(sizes) / 1e6:,.1f} MB"
            )
        log(f"  broker RSS after loading: {broker_rss_mb(broker):,.0f} MB")
        for d in deployments:
            worker = recover(d, tmp, timeout_s=4 * 3600)
            workers.append(worker)
            idle(d, worker)
            catch_up(d, worker, events)
            run_events(d, worker, events, seed=23)
            worker.stop()
            measure_disk(d)
        summary(deployments)
    finally:
        for w in workers:
            w.stop()
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for f in tmp.glob("*-worker.log"):
                shutil.copy(f, Path(args.keep) / f.name)
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def broker_rss_mb(broker: Any) -> float:
    pid = broker.pid()
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def summary(deployments: list[Deployment]) -> None:
    small, big = deployments
    s, b = small.figures, big.figures
    log("")
    log(f"| figure | small ({small.size:,}) | big ({big.size:,}) | big/small |")
    log("| --- | --- | --- | --- |")
    rows = [
        ("bytes/profile on disk (flushed, compacted)", "bytes_per_profile", "{:,.0f}"),
        ("recovery: ready after start (s)", "ready_s", "{:,.1f}"),
        ("recovery: records/s", "recovery_rps", "{:,.0f}"),
        ("worker RSS idle after recovery (MB)", "idle_rss_mb", "{:,.0f}"),
        ("timer catch-up: ticks", "catchup_ticks", "{:,.0f}"),
        ("timer catch-up: s", "catchup_s", "{:,.1f}"),
        ("worker RSS after the events (MB)", "events_rss_mb", "{:,.0f}"),
        ("worker peak RSS (MB)", "peak_rss_mb", "{:,.0f}"),
        ("CPU s per 100k events", "events_cpu_per_100k", "{:,.1f}"),
        ("events/s", "events_per_s", "{:,.0f}"),
    ]
    for label, key, fmt in rows:
        ratio = b[key] / s[key] if s.get(key) else float("nan")
        log(f"| {label} | {fmt.format(s[key])} | {fmt.format(b[key])} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
