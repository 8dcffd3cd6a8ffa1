"""``segue demo``: the whole pipeline on the embedded broker, start to summary, then stop.

Starts only what is not running (the embedded broker, the worker), stops only what it started.
With a broker that was already running it uses a fresh topic prefix, so the summary counts this
run alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from app.broker.embedded import (
    NO_JAVA_NOTE,
    BrokerProcess,
    default_kind,
    embedded_broker,
    free_port,
    port_open,
)
from app.core.dlq import dlq_reason
from app.core.timeutil import from_datetime, parse_rfc3339
from app.demo_delivery import DEMO_CHANNELS, LocalProviders, Sinks, sink_base_env
from app.explain.profile_view import profile_lines
from app.kafka_io import read_partitions
from app.paths import JOURNEYS_DIR, ROOT
from app.publish import PublishStats, publish
from app.report.render import text_summary, write_all
from app.report.tables import Builder
from app.report.topics import feed_topic
from app.settings import EMBEDDED_HOST, EMBEDDED_PORT, Settings
from app.sim import planned_count, simulate
from app.topics.apply import apply_topics
from app.topics.specs import TopicNames


@dataclass(frozen=True)
class DemoOptions:
    rate: float = 200.0
    duration_s: float = 20.0
    seed: int = 1
    customers: int = 400
    malformed_rate: float = 0.01
    #: seconds-long waits so that a short run shows journeys firing (the examples wait hours)
    journeys: Path = JOURNEYS_DIR / "demo"
    policies: Path = ROOT / "policies.yaml"
    catch_up_timeout_s: float = 180.0
    settle_s: float = 15.0
    #: the embedded broker's port on 127.0.0.1 when not the default one (used, or started)
    broker_port: int | None = None
    #: where the demo's `segue report` goes (report.html, report.json, CSVs)
    report_dir: Path = Path("report")


class WorkerMetrics:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def read(self) -> dict[str, float]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("segue_") and ("_total" in line or "_pending" in line):
                name = line.split("{", 1)[0].split(" ", 1)[0]
                value = float(line.rsplit(" ", 1)[1])
                totals[name] = totals.get(name, 0.0) + value
                if 'topic="' in line:  # per input topic too: events apart from receipts
                    topic = line.split('topic="', 1)[1].split('"', 1)[0]
                    totals[f"{name}:{topic}"] = totals.get(f"{name}:{topic}", 0.0) + value
        return totals

    def assigned(self) -> dict[str, float]:
        """Partitions each of the worker's agents owns (empty until it has joined its group)."""
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        owned: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("segue_runtime_assigned_partitions{"):
                agent = line.split('agent="', 1)[1].split('"', 1)[0]
                owned[agent] = float(line.rsplit(" ", 1)[1])
        return owned


def wait_until_joined(
    metrics: WorkerMetrics, worker: subprocess.Popen[bytes], timeout_s: float
) -> str | None:
    """Wait for every agent of the worker to own its partitions, so that the first events are
    handled as they arrive (not queued behind the group's first rebalance); None when it has,
    else why not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owned = metrics.assigned()
        if owned and all(n > 0 for n in owned.values()):
            return None
        if worker.poll() is not None:
            return f"the worker exited with {worker.returncode}"
        time.sleep(0.2)
    return f"the worker did not join its group within {timeout_s:.0f} s"


def run_demo(settings: Settings, options: DemoOptions, out: IO[str]) -> int:
    say = lambda text: print(text, file=out, flush=True)  # noqa: E731
    broker: BrokerProcess | None = None
    worker: subprocess.Popen[bytes] | None = None
    providers: LocalProviders | None = None
    sinks: Sinks | None = None
    state_dir = settings.state_dir / "demo"
    fresh_prefix = {"topic_prefix": f"demo{int(time.time())}."}
    if options.broker_port is not None:
        address = f"{EMBEDDED_HOST}:{options.broker_port}"
        settings = settings.model_copy(update={"bootstrap_servers": address})
    try:
        if settings.embedded_address or options.broker_port is not None:
            host, _, port = settings.bootstrap_servers.partition(",")[0].rpartition(":")
            host, port_no = host or EMBEDDED_HOST, int(port or EMBEDDED_PORT)
            if port_open(host, port_no):
                kind = "tansu" if settings.tansu_profile else "kafka"  # by what it is
                say(f"broker    using the broker already running on {host}:{port_no}")
                settings = settings.model_copy(update=fresh_prefix)
            else:
                kind = settings.broker_kind if settings.broker_kind != "auto" else default_kind()
                if kind == "tansu" and settings.broker_kind == "auto":
                    say(f"note      {NO_JAVA_NOTE}")
                broker = embedded_broker(kind, host, port_no, settings.state_dir)
                started = time.monotonic()
                broker.start()
                say(
                    f"broker    started the embedded broker ({broker.name}) on {broker.bootstrap}"
                    f" in {time.monotonic() - started:.1f} s"
                )
                if kind == "kafka":  # its data outlives the demo: count this run's topics only
                    settings = settings.model_copy(update=fresh_prefix)
        else:
            kind = "tansu" if settings.tansu_profile else "kafka"
            say(f"broker    using {settings.bootstrap_servers}")
            settings = settings.model_copy(update=fresh_prefix)

        report = apply_topics(settings)
        say(
            f"topics    {len(report.created)} created, {len(report.present)} present"
            + (f", prefix {settings.topic_prefix}" if settings.topic_prefix else "")
            + (f", MISMATCHES: {report.mismatches}" if report.mismatches else "")
        )

        # Local state belongs to one run's changelogs (fresh topics, or a memory-only broker).
        shutil.rmtree(state_dir, ignore_errors=True)
        state_dir.mkdir(parents=True)
        metrics_port = free_port()
        env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "SEGUE_BROKER_PROFILE": kind,
            "SEGUE_TOPIC_PREFIX": settings.topic_prefix,
            "SEGUE_STATE_DIR": str(state_dir),
            "SEGUE_METRICS_PORT": str(metrics_port),
        }
        log_path = state_dir / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "worker",
                    "--processes",  # one metrics endpoint for the progress line
                    "1",
                    "--journeys",
                    str(options.journeys),
                    "--policies",
                    str(options.policies),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        say(f"journeys  {options.journeys} with {options.policies}")
        metrics = WorkerMetrics(metrics_port)
        providers = LocalProviders(state_dir)
        providers.start()
        sinks = Sinks(providers, sink_base_env(env), state_dir)
        sinks.start(free_port)
        say(f"sinks     {', '.join(DEMO_CHANNELS)} delivering to {providers.describe()}")
        joined = time.monotonic()
        why = wait_until_joined(metrics, worker, options.catch_up_timeout_s)
        if why is not None:
            say(f"error     {why}; see {log_path}")
            return 1
        say(
            f"worker    ready in {time.monotonic() - joined:.1f} s "
            f"(pid {worker.pid}, log {log_path})"
        )

        names = TopicNames(settings)
        total = planned_count(options.rate, options.duration_s)
        start_ms = from_datetime(datetime.now(UTC))
        say(
            f"simulate  {total:,} events at {options.rate:g}/s for {options.duration_s:g} s, "
            f"{options.customers} customers, {options.malformed_rate:.0%} malformed"
        )

        def progress(stats: PublishStats) -> None:
            m = metrics.read()
            out.write(
                f"\r          published {stats.sent:,}/{total:,} | worker: "
                f"{m.get(f'segue_events_in_total:{names.events}', 0):,.0f} in, "
                f"{m.get('segue_actions_total', 0):,.0f} actions, "
                f"{m.get('segue_events_rejected_total', 0):,.0f} to DLQ   "
            )
            out.flush()

        records = simulate(
            options.seed,
            options.rate,
            options.duration_s,
            start_ms,
            options.customers,
            options.malformed_rate,
        )
        stats = publish(settings, records, names.events, rate=options.rate, on_progress=progress)
        out.write("\n")
        if stats.errors:
            say(f"error     {len(stats.errors)} delivery errors, first: {stats.errors[0]}")
            return 1

        deadline = time.monotonic() + options.catch_up_timeout_s
        while True:
            m = metrics.read()
            done = m.get(f"segue_events_in_total:{names.events}", 0)
            accepted = m.get("segue_events_accepted_total", 0)
            folded = m.get("segue_profile_updates_total", 0) + m.get(
                "segue_redelivered_skipped_total", 0
            )
            if done >= stats.sent and folded >= accepted:
                break
            if worker.poll() is not None:
                say(f"error     the worker exited with {worker.returncode}; see {log_path}")
                return 1
            if time.monotonic() > deadline:
                say(
                    f"error     the worker processed {done:,.0f} of {stats.sent:,} in time; "
                    f"see {log_path}"
                )
                return 1
            progress(stats)
            time.sleep(0.5)
        progress(stats)
        out.write("\n")
        # The journeys' short waits that the last events started: let them fire (the gauge is
        # refreshed every 5 s, so it is read a little after the last event).
        settle = time.monotonic() + options.settle_s
        time.sleep(min(6.0, options.settle_s))
        while metrics.read().get("segue_timers_pending", 0) > 0 and time.monotonic() < settle:
            time.sleep(1.0)
        _summary(settings, names, stats, metrics.read(), say)
        _deliveries(settings, names, providers, sinks, options.settle_s, say)
        _report(settings, names, options.report_dir, say)
        return 0
    finally:
        if sinks is not None:
            sinks.stop()
            say("sinks     stopped")
        if providers is not None:
            providers.stop()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
            say("worker    stopped")
        if broker is not None:
            broker.stop()
            say("broker    stopped")


def latest_profiles(
    changelog: Iterable[tuple[bytes | None, bytes | None]],
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The profiles table's last values, in changelog order: the profiles by key, and the keys
    that are anonymous visitors merged into a customer (tombstones ``{"merged_into": ...}``)."""
    profiles: dict[str, dict[str, Any]] = {}
    merged: set[str] = set()
    for raw_key, value in changelog:
        if not raw_key:
            continue
        key = raw_key.decode()
        if key.startswith("\x00"):
            continue  # Segue's own records (an adaptive step's arm statistics), no customer
        record = orjson.loads(value) if value else None
        profiles.pop(key, None)
        merged.discard(key)
        if record and "profile" in record:
            profiles[key] = record["profile"]
        elif record:
            merged.add(key)
    return profiles, merged


def _summary(
    settings: Settings, names: TopicNames, stats: PublishStats, metrics: dict[str, float], say: Any
) -> None:
    reasons: Counter[str] = Counter()
    for msg in read_partitions(settings, names.dlq):
        reasons[dlq_reason(msg.headers()).get("reason", "?").split(":", 1)[0]] += 1
    profiles, merged = latest_profiles(
        (msg.key(), msg.value()) for msg in read_partitions(settings, names.profiles_changelog)
    )
    say("")
    say("Segue demo summary")
    say(f"  events published     {stats.sent:,} ({stats.malformed:,} malformed on purpose)")
    events_in = metrics.get(f"segue_events_in_total:{names.events}", 0)
    receipts_in = metrics.get("segue_events_in_total", 0) - events_in
    say(
        f"  events in (worker)   {events_in:,.0f}"
        + (f" (and {receipts_in:,.0f} delivery receipts)" if receipts_in else "")
    )
    say(f"  accepted             {metrics.get('segue_events_accepted_total', 0):,.0f}")
    say(
        f"  rejected to the DLQ  {sum(reasons.values()):,}"
        + (f"  ({', '.join(f'{r}: {n}' for r, n in reasons.most_common())})" if reasons else "")
    )
    say(f"  profiles built       {len(profiles):,}")
    say(f"  visitors merged      {len(merged):,} (anonymous profiles folded into customers)")
    if profiles:
        busiest, sample = max(
            profiles.items(), key=lambda kv: (sum(kv[1]["counts"].values()), kv[0])
        )
        say(f"  busiest profile      {busiest} (segue profile get {busiest}):")
        # identities and journeys live in other tables: `segue profile get` shows them
        for line in profile_lines({"profile": sample}):
            if not line.startswith(("linked", "journeys")):
                say(f"    {line}")
    _journeys_summary(settings, names, say)


def _journeys_summary(settings: Settings, names: TopicNames, say: Any) -> None:
    """Live journeys: actions per channel and per journey, decisions, latency, samples."""
    actions: list[tuple[dict[str, Any], int]] = []
    for topic in names.actions.values():
        for msg in read_partitions(settings, topic):
            actions.append((orjson.loads(msg.value() or b"{}"), msg.timestamp()[1]))
    decisions: Counter[str] = Counter()
    for msg in read_partitions(settings, names.decisions):
        decisions[orjson.loads(msg.value() or b"{}").get("reason", "?")] += 1
    by_channel = Counter(a["channel"] for a, _ in actions)
    by_journey = Counter(a["journey"] for a, _ in actions)
    say(f"  actions emitted      {len(actions):,}")
    if actions:
        say("    per channel        " + ", ".join(f"{c}: {n}" for c, n in by_channel.most_common()))
        say("    per journey        " + ", ".join(f"{j}: {n}" for j, n in by_journey.most_common()))
    say(
        f"  decisions            {sum(decisions.values()):,}"
        + (f"  ({', '.join(f'{r}: {n}' for r, n in decisions.most_common())})" if decisions else "")
    )
    latencies = sorted(
        broker_ts - parse_rfc3339(a["source_timestamp"])
        for a, broker_ts in actions
        if a.get("source_timestamp")
    )
    if latencies:
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, (len(latencies) * 99) // 100)]
        say(
            f"  event-to-action      p50 {p50} ms, p99 {p99} ms over {len(latencies):,} "
            "event-triggered actions"
        )
    samples = {a["journey"]: a for a, _ in reversed(actions)}  # one per journey
    for action in list(samples.values())[:3]:
        sample = {
            k: action.get(k)
            for k in ("action_id", "customer_id", "journey", "step", "channel", "template")
        }
        say(f"  sample action        {orjson.dumps(sample).decode()}")


def _receipts(settings: Settings, names: TopicNames) -> Counter[tuple[str, str]]:
    """The sinks' receipts so far, by (channel, receipt type)."""
    found: Counter[tuple[str, str]] = Counter()
    for msg in read_partitions(settings, names.receipts):
        receipt = orjson.loads(msg.value() or b"{}")
        found[str(receipt.get("properties", {}).get("channel")), str(receipt.get("type"))] += 1
    return found


def _deliveries(
    settings: Settings,
    names: TopicNames,
    providers: LocalProviders,
    sinks: Sinks,
    settle_s: float,
    say: Any,
) -> None:
    """What the sinks delivered: the receipts on the topic, beside what the local providers
    accepted (the two must agree). Waits a little for the last actions' receipts."""
    actions = sum(1 for topic in names.actions.values() for _ in read_partitions(settings, topic))
    deadline = time.monotonic() + max(settle_s, 10.0)
    receipts = _receipts(settings, names)
    while sum(receipts.values()) < actions and time.monotonic() < deadline:
        time.sleep(1.0)
        receipts = _receipts(settings, names)
    accepted = providers.accepted()
    say(f"  deliveries           {sum(receipts.values()):,} receipts for {actions:,} actions")
    for channel in DEMO_CHANNELS:
        kinds = {kind: n for (ch, kind), n in receipts.items() if ch == channel}
        shown = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items())) or "none"
        say(f"    {channel:<18} {shown}; the provider accepted {accepted.get(channel, 0)}")
    if sinks.exited():
        say(f"  sinks that stopped   {', '.join(sinks.exited())}")


def _report(settings: Settings, names: TopicNames, folder: Path, say: Any) -> None:
    """The end of the demo: `segue report --topic`, as an analyst would run it."""
    builder = Builder()
    for topic_of in ("outcomes", "receipts", "events"):
        feed_topic(settings, topic_of, builder)
    report = builder.build()
    write_all(report, folder)
    say("")
    for line in text_summary(report).splitlines():
        say(line)
    say(
        f"  the whole report     {folder / 'report.html'} (open it in a browser; CSV and JSON beside it)"
    )
    again = f"SEGUE_TOPIC_PREFIX={settings.topic_prefix} " if settings.topic_prefix else ""
    say(f"  again, from topics   {again}segue report --topic (while the broker runs)")
