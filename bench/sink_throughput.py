"""Deliveries per second of each sink channel against real local providers.

    python bench/sink_throughput.py                 # 3,000 actions per channel
    python bench/sink_throughput.py --n 10000       # more
    python bench/sink_throughput.py --rate 200      # with a provider rate limit (token bucket)

Starts an embedded broker on a free port (or uses KAFKA_BOOTSTRAP_SERVERS), an SMTP server
(aiosmtpd) and an HTTP server that checks every HMAC signature, in this process; puts N actions
on each channel's topic; then runs `segue sink CHANNEL` (a subprocess, as in production) one
channel at a time. The rate is measured at the server: accepted deliveries between the first and
the last arrival, so the sink's start-up and group join are not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.broker.embedded import TansuBroker, free_port  # noqa: E402
from app.kafka_io import make_producer  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402
from tests.sink_servers import http_server, smtp_server  # noqa: E402

SECRET = "bench-secret"
TEMPLATES = {
    "email": "cart_offer",
    "sms": "cart_reminder",
    "push": "churn_last_chance",
    "webhook": "seasonal_offer",
    "agent": "cart_callback",
}


def action(channel: str, n: int) -> dict[str, object]:
    return {
        "action_id": f"bench-{channel}-{n}-{uuid.uuid4().hex[:8]}",
        "customer_id": f"c-{n % 1000}",
        "journey": "cart_recovery",
        "journey_version": 3,
        "step": "bench",
        "channel": channel,
        "template": TEMPLATES[channel],
        "variant": None,
        "trigger_event_id": f"e-{n}",
        "event_time": "2026-11-23T10:00:00Z",
        "decided_at": "2026-11-23T10:00:00Z",
        "scores": {"churn": 0.4, "intent": 0.7},
        "data": {},
        "context": {"category": "promotional", "priority": 50, "visit": 1},
        # the snapshot travels with the action here: the bench runs no stream worker
        "profile": {"attributes": {"email": f"c{n % 1000}@example.com", "name": "Ada"}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="actions per channel")
    parser.add_argument("--rate", type=float, default=1e9, help="token bucket rate per second")
    parser.add_argument("--channels", default="email,sms,push,webhook,agent")
    parser.add_argument(
        "--profile", metavar="DIR", help="run each sink under cProfile, stats to DIR/<channel>.prof"
    )
    args = parser.parse_args()
    channels = args.channels.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="segue-sink-bench-"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not bootstrap:
        broker = TansuBroker("127.0.0.1", free_port(), tmp / "broker")
        broker.start()
        bootstrap = broker.bootstrap
    profile = "tansu" if broker is not None else "kafka"
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = Settings(
        bootstrap_servers=bootstrap,
        broker_profile=profile,
        topic_prefix=prefix,
        state_dir=tmp / "state",
    )
    try:
        apply_topics(settings)
        names = TopicNames(settings)
        producer = make_producer(settings)
        for channel in channels:
            for n in range(args.n):
                a = action(channel, n)
                producer.produce(
                    names.actions[channel],
                    key=str(a["customer_id"]).encode(),
                    value=orjson.dumps(a),
                )
                producer.poll(0)
        producer.flush(60)
        env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": bootstrap,
            "SEGUE_BROKER_PROFILE": profile,
            "SEGUE_TOPIC_PREFIX": prefix,
            "SEGUE_STATE_DIR": str(tmp / "state"),
            "SEGUE_METRICS_PORT": "0",
            "SEGUE_LOG_LEVEL": "warning",
            "SEGUE_SINK_PROFILES": "false",
        }
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        print(
            f"broker: {profile} at {bootstrap}; {args.n} actions per channel; rate {args.rate:g}/s"
        )
        with smtp_server() as (smtp, smtp_port), http_server(SECRET.encode()) as (hook, url):
            for channel in channels:
                p = f"SEGUE_SINK_{channel.upper()}__"
                conf = {p + "RATE_PER_S": str(args.rate), p + "BURST": "50"}
                if channel == "email":
                    conf |= {p + "KIND": "smtp", p + "PORT": str(smtp_port)}
                    recorder_arrivals = smtp.arrivals
                else:
                    conf |= {
                        p + "KIND": "http",
                        p + "URL": f"{url}/{channel}",
                        p + "SECRET": SECRET,
                    }
                    recorder_arrivals = hook.arrivals
                before = len(recorder_arrivals)
                profiler = (
                    ["-m", "cProfile", "-o", f"{args.profile}/{channel}.prof"]
                    if args.profile
                    else []
                )
                proc = subprocess.Popen(
                    [sys.executable, *profiler, "-m", "app", "sink", channel],
                    cwd=ROOT,
                    env={**env, **conf},
                )
                deadline = time.monotonic() + 600
                while len(recorder_arrivals) - before < args.n and time.monotonic() < deadline:
                    if proc.poll() is not None:
                        raise SystemExit(f"sink {channel} exited with {proc.returncode}")
                    time.sleep(0.1)
                proc.terminate()
                proc.wait(30)
                arrivals = recorder_arrivals[before:]
                got = len(arrivals)
                span = arrivals[-1] - arrivals[0] if got > 1 else float("nan")
                print(
                    f"{channel:8s} {got:6d} delivered in {span:6.2f} s = {(got - 1) / span:8.0f} deliveries/s"
                )
            assert hook.rejected_signatures == 0
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
