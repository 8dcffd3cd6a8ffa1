"""The dashboard's page: the operational view first (what an on-call engineer looks at), then
the journey report exactly as `segue report` renders it. Self-contained (inline CSS and SVG)
and refreshed by the browser every few seconds; the same figures as JSON for scripts."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import orjson

from app.dashboard.scrape import Ops
from app.report.render import CSS, method_note, report_sections, table_html
from app.report.tables import Report

OPS_TITLES = {
    "endpoints": "Metrics endpoints",
    "throughput": "Throughput",
    "partitions": "Partitions: lag and event-to-action latency against the budget",
    "dead_letters": "Dead letters by reason",
    "channels": "Deliveries and failures by channel",
}
OPS_CSS = ".over{color:#b42318;font-weight:600}.status{font-size:.9rem;color:#333}"


def page(
    report: Report, ops: Ops | None, status: dict[str, Any], refresh_s: int, wall: float
) -> str:
    """The whole page. ``wall`` (epoch seconds) is when it was made: shown, not computed on."""
    made = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    records = status["records"]
    read = ", ".join(f"{kind} {n:,}" for kind, n in records.items())
    notes = [f"Made {made}; refreshed every {refresh_s} s. Records read: {read}."]
    if status["waiting_for_topics"]:
        notes.append("Waiting for topics: " + ", ".join(status["waiting_for_topics"]) + ".")
    if status["unusable"]:
        notes.append(f"{status['unusable']:,} records could not be used.")
    if status["error"]:
        notes.append(f"Topics: {status['error']}")
    ops_html = ""
    if ops is not None:
        for name, rows in ops.tables().items():
            table = table_html(f"ops-{name}", rows)
            if name == "partitions":  # a partition over its budget stands out
                table = table.replace("<td>no</td>", '<td class="over">no</td>')
            ops_html += f"<h2>{html.escape(OPS_TITLES[name])}</h2>{table}"
    else:
        ops_html = '<p class="note">No metrics endpoint given (--metrics URL).</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{refresh_s}">'
        # no icon to fetch: a browser would ask the server for /favicon.ico on every refresh
        '<link rel="icon" href="data:,">'
        "<title>Segue live dashboard</title>"
        f"<style>{CSS}{OPS_CSS}</style></head><body>"
        "<h1>Segue live dashboard</h1>"
        f'<p class="status" id="status">{html.escape(" ".join(notes))}</p>'
        f"<h1>Operations</h1>{ops_html}"
        "<h1>Journeys</h1>" + method_note(report) + report_sections(report) + "</body></html>\n"
    )


def ops_json(ops: Ops | None, status: dict[str, Any]) -> bytes:
    tables = ops.tables() if ops is not None else {}
    return orjson.dumps({"status": status, **tables}, option=orjson.OPT_SORT_KEYS)
