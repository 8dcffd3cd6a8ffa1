"""`segue dashboard` on a live deployment: a worker on the broker, the dashboard reading its
topics and its metrics endpoint, the page opened in headless Chromium. The report it serves is
the one `segue report --topic` writes for the same records."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from app.dashboard.server import Dashboard, serve
from tests.browser import render
from tests.integration.live_support import (
    WORKER_ARGS,
    Expected,
    clock_events,
    journey_events,
    live_outcomes,
    produce_events,
    wait_for_actions,
    wait_for_state,
)
from tests.integration.support import ROOT, Deployment
from tests.integration.test_cli import segue

SHOTS = ROOT / "test-output"
DAY_MS = 86_400_000


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return orjson.loads(response.read())


def wait(what: str, check: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_the_dashboard_serves_the_live_report_and_the_workers_view(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    start = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    events = journey_events(200, 25, seed=3, start_ms=start)
    until = start + 200 * 100 + 60_000
    events += clock_events(deployment.settings.partitions, until, "end")
    expected = Expected(events, until)
    worker = start_worker("0", *WORKER_ARGS)

    board = Dashboard(deployment.settings, [f"http://127.0.0.1:{worker.metrics_port}/metrics"], 2)
    server = serve(board, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    board.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        produce_events(deployment, events)
        wait_for_actions(deployment, [worker], expected)
        wait_for_state(deployment, worker, expected)
        outcomes = len(live_outcomes(deployment))
        assert outcomes > 100

        def caught_up() -> bool:
            ops = get(f"{base}/ops.json")
            return ops["status"]["records"]["outcomes"] >= outcomes and any(
                row["p99_ms"] is not None for row in ops["partitions"]
            )

        wait("the dashboard to read every outcome and the worker's latency", caught_up)
        ops = get(f"{base}/ops.json")
        assert ops["status"]["waiting_for_topics"] == [] and ops["status"]["error"] is None
        assert [e["up"] for e in ops["endpoints"]] == [True]
        events_in = next(r for r in ops["throughput"] if r["figure"] == "events in")
        assert events_in["total"] >= len(events)
        assert {r["partition"] for r in ops["partitions"]} <= {"0", "1", "2", "3"}

        # the same report as `segue report --topic` on the same records
        folder = tmp_path / "report"
        done = segue(deployment.env, "report", "--topic", "--out", str(folder))
        assert done.returncode == 0, done.stderr
        wanted = orjson.loads((folder / "report.json").read_bytes())
        time.sleep(1.1)  # past the rebuild period: the next read builds from every record
        served = get(f"{base}/report.json")
        assert served["tables"] == wanted["tables"]
        assert served["tables"]["lift"], "the journeys had entries"

        SHOTS.mkdir(exist_ok=True)
        page = render(f"{base}/", SHOTS / "dashboard-page.png", ("table", "svg"))
        assert page.errors == []
        assert page.title == "Segue live dashboard"
        for heading in (
            "Partitions: lag and event-to-action latency against the budget",
            "Throughput",
            "Conversion against the control group",
            "Funnel: entries reaching each step",
        ):
            assert heading in page.text
        assert page.counts["table"] >= 8 and page.counts["svg"] >= 1
    finally:
        server.shutdown()
        server.server_close()
        board.stop()
