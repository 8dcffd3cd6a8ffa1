"""`make bench`: the same simulated stream through three pipelines, side by side in one run,
on the embedded Apache Kafka (the primary table) and then on Tansu (the second table).

- limit:     one confluent-kafka process: consume, orjson decode, produce (no state, no logic)
- framework: a plain faust-streaming agent that forwards each event
- runtime:   Segue's own runtime (app/runtime/) on the same job with a count per key in a store
- segue:     the Segue worker (ingest, identity, journeys, actions), one process
- segue-2p:  the same with ``segue worker --processes 2``

For each: sustained throughput (preloaded events, first output to last), event-to-output latency
p50/p99/p99.9 at fixed rates, peak RSS and CPU seconds per 100,000 events; then the ratios. Also
the core alone (replay) and one model score. Writes BENCHMARKS.md and bench/latency.png.

    .venv/bin/python bench/run_bench.py [--quick] [--broker kafka|tansu|both]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.broker.embedded import KafkaBroker, TansuBroker, free_port  # noqa: E402
from app.core.timeutil import format_ms, parse_rfc3339  # noqa: E402
from app.kafka_io import watermarks  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.sim import simulate  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402
from bench.pipelines.limit import next_batch  # noqa: E402

START_MS = 1_795_420_800_000
#: BENCHMARKS.md from this line on is written by hand from other scripts and kept by write_report
KEPT_MARKER = "<!-- kept by run_bench.py:"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Result:
    name: str
    broker: str
    throughput: float = 0.0
    cpu_per_100k: float = 0.0
    peak_rss_mb: float = 0.0
    latency: dict[int, dict[str, float | None]] = field(default_factory=dict)  # rate -> stats


class Proc:
    """A pipeline process and its child processes (``segue worker --processes N``), with their
    CPU time and peak RSS read from /proc, summed."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log: Path,
        processes: int = 1,
        cwd: Path = ROOT,
    ) -> None:
        port = int(env.get("SEGUE_METRICS_PORT", "0"))
        self.metrics_ports = [port + i for i in range(processes)] if port else []
        self.log = log
        # the last values read per pid (a process that ended has none)
        self._cpu: dict[int, float] = {}
        self._rss: dict[int, float] = {}
        with log.open("wb") as fh:
            self.popen = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT
            )

    def pids(self) -> list[int]:
        pid = self.popen.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def cpu_s(self) -> float:
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            self._cpu[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return sum(self._cpu.values())

    def peak_rss_mb(self) -> float:
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self._rss[pid] = int(line.split()[1]) / 1024
        return sum(self._rss.values())

    def ended(self) -> str | None:
        """Why the process ended before it was stopped (its exit code and log), or None."""
        code = self.popen.poll()
        if code is None:
            return None
        lines = [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if "Connection refused" not in line
        ]
        return f"ended with exit code {code}: " + " | ".join(lines[-6:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


class Observer(threading.Thread):
    """Reads output topics; counts records and records event-to-output latency."""

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        source_ms: Callable[[bytes], int | None],
        from_beginning: bool,
    ) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": uuid.uuid4().hex,
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
            }
        )
        parts = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            for p in meta.partitions:
                if from_beginning:
                    offset = 0
                else:
                    offset = watermarks(self.consumer, TopicPartition(topic, p))[1]
                parts.append(TopicPartition(topic, p, offset))
        self.consumer.assign(parts)
        self.source_ms = source_ms
        self.count = 0
        self.first = self.last = 0.0
        self.measure_from_ms: int | None = None
        self.hist = HdrHistogram(1, 600_000, 3)
        self.running = True

    def run(self) -> None:
        while self.running:
            for msg in next_batch(self.consumer):
                if msg.error() or msg.value() is None:
                    continue
                t = time.monotonic()
                if not self.count:
                    self.first = t
                self.count += 1
                self.last = t
                if self.measure_from_ms is not None:
                    src = self.source_ms(msg.value())
                    if src is not None and src >= self.measure_from_ms:
                        self.hist.record_value(max(1, output_ms(msg) - src))
        self.consumer.close()


def output_ms(msg: Message) -> int:
    """When the pipeline produced an output: its record's CreateTime, which the pipeline's
    producer stamps at ``produce`` (none of the pipelines sets one). Not the moment this
    observer reads it: the observer shares a process and the GIL with the paced sender, and at
    5,000/s its own lag (p99 ~1 s on the limit pipeline) was most of what was measured."""
    kind, stamp = msg.timestamp()
    return stamp if kind == TIMESTAMP_CREATE_TIME and stamp > 0 else now_ms()


def bench_events(n: int, customers: int) -> list[dict[str, Any]]:
    rate = n / 3600
    return [e for e in simulate(11, rate, 3600, START_MS, customers) if isinstance(e, dict)]


def ms(value: float | None) -> str:
    """A latency for the table and the log; n/a when no output arrived to measure."""
    return "n/a" if value is None else f"{value:,.0f} ms"


def make_producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 2,
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 1_000_000,
        }
    )


def produce_all(producer: Producer, topic: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        key = (event.get("customer_id") or event.get("anonymous_id")).encode()
        while True:
            try:
                producer.produce(topic, key=key, value=orjson.dumps(event))
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)


def produce_paced(
    producer: Producer, topic: str, events: list[dict[str, Any]], rate: float, seconds: float
) -> int:
    """Send at `rate`/s for `seconds`, each event stamped with the wall clock at send.

    In 10 ms slices with a sleep between them (as bench/live_latency.py sends): a sender that
    waits for each event's due time in ``poll`` spins a whole core at 5,000/s, and on two cores
    shared with the broker and the pipeline that starvation was most of the latency measured
    (the limit pipeline's p50 at 5,000/s: ~400-500 ms)."""
    total = int(rate * seconds)
    began = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - began) * rate) + 1)
        stamp = now_ms()
        for i in range(sent, due):
            event = dict(events[i % len(events)])
            event["event_id"] = f"lat-{uuid.uuid4().hex[:12]}"
            event["timestamp"] = format_ms(stamp)
            event["properties"] = {**event.get("properties", {}), "bench_ms": stamp}
            key = (event.get("customer_id") or event.get("anonymous_id")).encode()
            producer.produce(topic, key=key, value=orjson.dumps(event))
        sent = due
        producer.poll(0)
        time.sleep(0.01)
    producer.flush(60)
    return total


@dataclass
class Pipeline:
    name: str
    # (bootstrap, broker profile, tmp) -> proc, output topics, input topic
    start: Callable[[str, str, Path], tuple[Proc, list[str], str]]
    source_ms: Callable[[bytes], int | None]
    # events fully processed so far, where outputs are not one per event (Segue: actions)
    processed: Callable[[Proc], float] | None = None


def forwarded_ms(value: bytes) -> int | None:
    return orjson.loads(value).get("properties", {}).get("bench_ms")


def action_ms(value: bytes) -> int | None:
    """An action's source event broker time (timer actions have none and are not counted)."""
    source = orjson.loads(value).get("source_timestamp")
    return parse_rfc3339(source) if source else None


def segue_processed(proc: Proc) -> float:
    total = 0.0
    for port in proc.metrics_ports:
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        total += sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("segue_profile_updates_total ")
        )
    return total


def plain_topics(bootstrap: str, tag: str) -> tuple[str, str]:
    source, target = f"bench-{tag}-in", f"bench-{tag}-out"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(source, 4, 1), NewTopic(target, 4, 1)]).values():
        fut.result()
    return source, target


def start_limit(bootstrap: str, profile: str, tmp: Path) -> tuple[Proc, list[str], str]:
    tag = uuid.uuid4().hex[:6]
    source, target = plain_topics(bootstrap, tag)
    proc = Proc(
        [
            sys.executable,
            "bench/pipelines/limit.py",
            bootstrap,
            source,
            target,
            f"limit-{tag}",
            profile,
        ],
        dict(os.environ),
        tmp / f"limit-{tag}.log",
    )
    return proc, [target], source


def start_framework(bootstrap: str, profile: str, tmp: Path) -> tuple[Proc, list[str], str]:
    tag = uuid.uuid4().hex[:6]
    source, target = plain_topics(bootstrap, tag)
    proc = Proc(
        [
            sys.executable,
            "bench/pipelines/framework.py",
            bootstrap,
            source,
            target,
            f"framework-{tag}",
            str(tmp / f"fw-{tag}"),
            profile,
        ],
        dict(os.environ),
        tmp / f"framework-{tag}.log",
    )
    return proc, [target], source


def start_runtime(bootstrap: str, profile: str, tmp: Path) -> tuple[Proc, list[str], str]:
    tag = uuid.uuid4().hex[:6]
    source, target = plain_topics(bootstrap, tag)
    group = f"runtime-{tag}"
    changelog = NewTopic(
        f"{group}.segue-forward-counts-changelog", 4, 1, config={"cleanup.policy": "compact"}
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the futures resolve
    for fut in admin.create_topics([changelog]).values():
        fut.result()
    proc = Proc(
        [
            sys.executable,
            "bench/pipelines/runtime.py",
            bootstrap,
            source,
            target,
            group,
            str(tmp / f"rt-{tag}"),
            profile,
        ],
        dict(os.environ),
        tmp / f"runtime-{tag}.log",
    )
    return proc, [target], source


def bench_policies(tmp: Path, tree: Path) -> Path:
    """The tree's policies.yaml without its quiet hours: the latency events are stamped with
    the wall clock, and at night (21:00-08:00 UTC) quiet hours defer every promotional send to
    the morning, so what was measured (and whether the warm-up saw an action at all) hung on
    the hour the bench ran. Caps, consent and categories stay."""
    doc = yaml.safe_load((tree / "policies.yaml").read_text())
    doc.pop("quiet_hours", None)
    path = tmp / f"policies-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_segue(
    bootstrap: str, profile: str, tmp: Path, processes: int = 1, cwd: Path = ROOT
) -> tuple[Proc, list[str], str]:
    """A worker on fresh topics; ``cwd``: the checkout whose ``app`` it runs (compare_worker)."""
    prefix = f"s{uuid.uuid4().hex[:6]}."
    settings = Settings(bootstrap_servers=bootstrap, broker_profile=profile, topic_prefix=prefix)
    apply_topics(settings)
    names = TopicNames(settings)
    env = {
        **os.environ,
        "SEGUE_BOOTSTRAP_SERVERS": bootstrap,
        "SEGUE_BROKER_PROFILE": profile,
        "SEGUE_TOPIC_PREFIX": prefix,
        "SEGUE_STATE_DIR": str(tmp / prefix),
        "SEGUE_METRICS_PORT": str(free_port()),
        "SEGUE_LOG_LEVEL": "warning",
    }
    args = [sys.executable, "-m", "app", "worker", "--processes", str(processes)]
    args += ["--policies", str(bench_policies(tmp, cwd))]
    proc = Proc(args, env, tmp / f"segue-{prefix}log", processes, cwd=cwd)
    return proc, list(names.actions.values()), names.events


def start_segue_2p(bootstrap: str, profile: str, tmp: Path) -> tuple[Proc, list[str], str]:
    return start_segue(bootstrap, profile, tmp, processes=2)


PIPELINES = [
    Pipeline("limit", start_limit, forwarded_ms),
    Pipeline("framework", start_framework, forwarded_ms),
    Pipeline("runtime", start_runtime, forwarded_ms),
    Pipeline("segue", start_segue, action_ms, segue_processed),
    Pipeline("segue-2p", start_segue_2p, action_ms, segue_processed),
]


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def run_pipeline(
    p: Pipeline,
    bootstrap: str,
    profile: str,
    tmp: Path,
    events: list[dict[str, Any]],
    rates: list[int],
    seconds: float,
    drain_s: float,
    log: Callable[[str], None],
) -> Result:
    result = Result(p.name, profile)
    producer = make_producer(bootstrap)
    # 1. throughput: preload, then start the pipeline and time first output to last
    proc, outputs, source = p.start(bootstrap, profile, tmp)
    produce_all(producer, source, events)
    observer = Observer(bootstrap, outputs, p.source_ms, from_beginning=True)
    observer.start()
    count: Callable[[], float] = (
        (lambda: p.processed(proc)) if p.processed else (lambda: float(observer.count))
    )
    cpu0 = proc.cpu_s()
    first_at = first_n = 0.0
    last_at, done = time.monotonic(), 0.0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.popen.poll() is None:
        done = count()
        if done and not first_at:
            first_at, first_n = time.monotonic(), done
        if done >= len(events):
            last_at = time.monotonic()
            break
        time.sleep(0.05)
    cpu = proc.cpu_s() - cpu0
    if (why := proc.ended()) is not None:
        log(f"  {p.name:9} {why}")
    observer.running = False
    if p.processed is None and observer.count > 1:  # exact times of the first and last output
        first_at, first_n, last_at, done = observer.first, 1.0, observer.last, observer.count
    result.throughput = (done - first_n) / max(last_at - first_at, 1e-9) if first_at else 0.0
    result.cpu_per_100k = cpu / max(done, 1) * 100_000
    result.peak_rss_mb = proc.peak_rss_mb()
    log(
        f"  {p.name:9} throughput {result.throughput:,.0f} events/s "
        f"({done:,.0f} events), CPU {result.cpu_per_100k:.1f} s/100k, "
        f"RSS {result.peak_rss_mb:.0f} MB"
    )
    proc.stop()
    # 2. latency at fixed rates, on a fresh, warmed-up pipeline
    proc, outputs, source = p.start(bootstrap, profile, tmp)
    observer = Observer(bootstrap, outputs, p.source_ms, from_beginning=False)
    observer.start()
    warm = 0
    while observer.count == 0 and warm < 600 and proc.popen.poll() is None:
        produce_paced(producer, source, events[warm * 10 : (warm + 1) * 10], 100, 0.1)
        warm += 1
        time.sleep(0.5)
    # events fully processed: outputs for the forwarders, the worker's count for Segue
    processed_now: Callable[[], float] = (
        (lambda: p.processed(proc)) if p.processed else (lambda: float(observer.count))
    )
    for rate in rates:
        observer.hist = HdrHistogram(1, 600_000, 3)
        observer.measure_from_ms = now_ms()
        before = processed_now()
        sent = produce_paced(producer, source, events, rate, seconds)
        wait_until(lambda b=before, s=sent: processed_now() - b >= s, drain_s)
        h = observer.hist
        got = processed_now() - before
        measured = h.get_total_count() > 0  # no output arrived in the window: no latency
        result.latency[rate] = {
            "p50": h.get_value_at_percentile(50) if measured else None,
            "p99": h.get_value_at_percentile(99) if measured else None,
            "p99.9": h.get_value_at_percentile(99.9) if measured else None,
            "delivered": got / max(sent, 1),
        }
        stats = result.latency[rate]
        log(
            f"  {p.name:9} at {rate:,}/s: p50 {ms(stats['p50'])}, p99 {ms(stats['p99'])}, "
            f"p99.9 {ms(stats['p99.9'])} ({stats['delivered']:.0%} of {sent:,} processed "
            f"within {drain_s:g} s of the last send)"
        )
    observer.running = False
    result.peak_rss_mb = max(result.peak_rss_mb, proc.peak_rss_mb())
    proc.stop()
    return result


def run_script(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return (done.stdout + done.stderr).strip()


BROKERS = {
    "kafka": "Apache Kafka (embedded, KRaft, one node)",
    "tansu": "Tansu (embedded, memory only)",
}


def start_broker(kind: str, tmp: Path) -> KafkaBroker | TansuBroker:
    if kind == "kafka":
        return KafkaBroker("127.0.0.1", free_port(), tmp, controller_port=free_port())
    return TansuBroker("127.0.0.1", free_port(), tmp)


def warm_up(
    bootstrap: str,
    profile: str,
    tmp: Path,
    events: list[dict[str, Any]],
    log: Callable[[str], None],
    seconds: float = 20.0,
) -> None:
    """The limit pipeline at 1,000 and 5,000 events/s through a fresh broker, unmeasured, before
    anything is measured on it. A JVM just started runs interpreted until the JIT has compiled
    its hot paths (measured here: the limit pipeline's p50 at 1,000 events/s was 259 ms on a
    Kafka started seconds before, 5 ms on one that had served a few minutes), which would charge
    the first pipeline for the broker's start."""
    began = time.monotonic()
    proc, _outputs, source = start_limit(bootstrap, profile, tmp)
    producer = make_producer(bootstrap)
    sent = sum(produce_paced(producer, source, events, rate, seconds / 2) for rate in (1000, 5000))
    proc.stop()
    log(
        f"  warm-up   {sent:,} events through the limit pipeline, unmeasured, {time.monotonic() - began:.0f} s"
    )


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {
        "limit": "tab:blue",
        "framework": "tab:orange",
        "runtime": "tab:purple",
        "segue": "tab:green",
        "segue-2p": "tab:olive",
    }
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in results:
        rates = sorted(x for x in r.latency if r.latency[x]["p50"] is not None)
        kafka = r.broker == "kafka"
        for pct, style in (("p50", "-o" if kafka else ":o"), ("p99", "--s" if kafka else ":s")):
            ax.plot(
                rates,
                [r.latency[x][pct] or 0.0 for x in rates],
                style,
                color=colors.get(r.name, "tab:gray"),
                alpha=1.0 if kafka else 0.45,
                label=f"{r.name} {pct} ({r.broker})",
            )
    ax.set_xlabel("offered rate (events/s)")
    ax.set_ylabel("event-to-output latency (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Latency against rate (embedded brokers, one process each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 6 minutes")
    parser.add_argument(
        "--broker",
        choices=["kafka", "tansu", "both"],
        default="both",
        help="which embedded broker(s) to run on (default: both, Kafka first)",
    )
    parser.add_argument(
        "--only",
        choices=[p.name for p in PIPELINES],
        action="append",
        help="run only this pipeline (repeatable); the report still needs all three",
    )
    parser.add_argument(
        "--events", type=int, help="preloaded events for the throughput runs (with --only)"
    )
    args = parser.parse_args()
    n, seconds = (10_000, 5.0) if args.quick else (100_000, 30.0)
    if args.events:
        if not args.only:
            parser.error("--events changes the sizes: use it with --only (a look, not the report)")
        n = args.events
    drain_s = 10.0 if args.quick else 30.0
    rates = [1_000, 5_000]
    kinds = ["kafka", "tansu"] if args.broker == "both" else [args.broker]
    lines: list[str] = []

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    command = (
        "make bench"
        if not args.quick and args.broker == "both"
        else (
            ".venv/bin/python bench/run_bench.py"
            + (" --quick" if args.quick else "")
            + ("" if args.broker == "both" else f" --broker {args.broker}")
        )
    )
    log(f"# {command}: {n:,} events, latency {seconds:g} s per rate, on {', '.join(kinds)}")
    events = bench_events(n, max(n // 20, 100))
    results: list[Result] = []
    for kind in kinds:
        tmp = Path(tempfile.mkdtemp(prefix=f"segue-bench-{kind}-"))
        broker = start_broker(kind, tmp)
        began = time.monotonic()
        broker.start()
        log(
            f"## {BROKERS[kind]} on {broker.bootstrap} (started in {time.monotonic() - began:.1f} s)"
        )
        try:
            warm_up(broker.bootstrap, kind, tmp, events, log)
            for p in PIPELINES:
                if args.only and p.name not in args.only:
                    continue
                results.append(
                    run_pipeline(
                        p, broker.bootstrap, kind, tmp, events, rates, seconds, drain_s, log
                    )
                )
        finally:
            broker.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    if args.only:
        print("BENCHMARKS.md left as it was: --only runs are for looking, not for the report")
        return
    core = run_script(["bench/core_replay.py", "--quick"])
    score = run_script(["bench/score_cost.py"])
    write_report(results, kinds, core, score, command, n, seconds, rates, lines)
    plot(results, ROOT / "bench" / "latency.png")
    print("wrote BENCHMARKS.md and bench/latency.png")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b > 0 else "n/a"


def result_table(results: list[Result], rates: list[int]) -> list[str]:
    head = " | ".join(f"{k} @{r // 1000}k" for r in rates for k in ("p50", "p99", "p99.9"))
    md = [
        f"| pipeline | events/s | {head} | CPU s/100k | peak RSS MB |",
        "| --- " * (3 * len(rates) + 4) + "|",
    ]
    for r in results:
        lat = [r.latency.get(rate, {}) for rate in rates]
        cells = [ms(x.get(k)) for x in lat for k in ("p50", "p99", "p99.9")]
        md.append(
            f"| {r.name} | {r.throughput:,.0f} | "
            + " | ".join(cells)
            + f" | {r.cpu_per_100k:.1f} | {r.peak_rss_mb:.0f} |"
        )
    by = {r.name: r for r in results}
    lim, fw = by["limit"], by["framework"]
    cells = [
        f"{name}/limit = {ratio(r.throughput, lim.throughput)}, "
        f"{name}/framework = {ratio(r.throughput, fw.throughput)}"
        for name in ("runtime", "segue", "segue-2p")
        if (r := by.get(name)) is not None
    ]
    md += ["", f"Ratios (throughput): {'; '.join(cells)}."]
    return md


def write_report(
    results: list[Result],
    kinds: list[str],
    core: str,
    score: str,
    command: str,
    n: int,
    seconds: float,
    rates: list[int],
    lines: list[str],
) -> None:
    import faust

    md = [
        "# Benchmarks",
        "",
        f"Command: `{command}` (one run; every figure below comes from it).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, faust-streaming {faust.__version__}; the broker runs "
        "on the same machine (embedded), started fresh for each table.",
        f"Sizes: throughput on {n:,} preloaded simulated events; latency over {seconds:g} s at "
        f"each of {', '.join(f'{r:,}' for r in rates)} events/s.",
        "Segue: ingest, profiles, journeys (the example journeys and policies.yaml), actions. "
        "Throughput counts events fully processed (worker metric); the worker runs policies.yaml "
        "without its quiet hours (the latency events carry the wall clock's time, and quiet hours "
        "would make the figures depend on the hour of the run); latency is measured on the "
        "action topics, from the moment the harness sent an action's source event (its "
        "timestamp) to the moment the worker produced the action (the action record's "
        "CreateTime), so the harness's own reading lag is not counted. On Tansu "
        "every pipeline gets the Tansu profile's workarounds (app/stream/compat.py).",
    ]
    by_broker = {kind: [r for r in results if r.broker == kind] for kind in kinds}
    for kind in kinds:
        md += ["", f"## On {BROKERS[kind]}", "", *result_table(by_broker[kind], rates)]
    if len(kinds) == 2:
        cross = {r.name: r for r in by_broker["tansu"]}
        cells = ", ".join(
            f"{r.name} {ratio(r.throughput, cross[r.name].throughput)}"
            for r in by_broker["kafka"]
            if r.name in cross
        )
        md += ["", f"Kafka/Tansu (throughput, same pipeline): {cells}."]
    md += [
        "",
        "![latency against rate](bench/latency.png)",
        "",
        "## The core alone (`.venv/bin/python bench/core_replay.py --quick`)",
        "",
        "```",
        core,
        "```",
        "",
        "## One model score (`.venv/bin/python bench/score_cost.py`)",
        "",
        "```",
        score,
        "```",
        "",
        "## Run log",
        "",
        "```",
        *lines,
        "```",
    ]
    # Sections measured by other scripts (scale of state, the profile) survive a new run.
    target = ROOT / "BENCHMARKS.md"
    old = target.read_text() if target.exists() else ""
    kept = old[old.index(KEPT_MARKER) :] if KEPT_MARKER in old else ""
    target.write_text("\n".join(md) + "\n" + ("\n" + kept if kept else ""))


if __name__ == "__main__":
    main()
