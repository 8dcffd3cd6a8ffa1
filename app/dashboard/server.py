"""The dashboard's HTTP server: ``/`` the page, ``/report.json`` the report's tables (as
`segue report` writes them), ``/ops.json`` the operational figures and the reading status,
``/healthz``. A thread scrapes the metrics every refresh; the report is rebuilt when records
arrived, at most once a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.dashboard.follow import Follower
from app.dashboard.page import ops_json, page
from app.dashboard.scrape import Ops, Scraper
from app.report.render import to_json
from app.report.tables import Builder, Report
from app.settings import Settings

#: the report is rebuilt at most this often (a build walks every entry), whatever the refresh
REBUILD_S = 1.0


class Dashboard:
    def __init__(
        self,
        settings: Settings,
        metrics: list[str],
        refresh_s: int = 5,
        events: bool = True,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_s = refresh_s
        self.wall = wall
        self.lock = threading.Lock()
        self.builder = Builder()
        self.follower = Follower(settings, self.builder, self.lock, events)
        self.scraper = Scraper(metrics) if metrics else None
        self.ops: Ops | None = None
        self._report: Report | None = None
        self._built_from: tuple[int, int, int] | None = None
        self._built_at = 0.0
        self._stop = threading.Event()
        self._scraping = threading.Thread(target=self._scrape_loop, daemon=True)

    def start(self) -> None:
        self.follower.start()
        self._scraping.start()

    def stop(self) -> None:
        self._stop.set()
        self.follower.stop()
        self.follower.join(10)

    def _scrape_loop(self) -> None:
        while self.scraper is not None and not self._stop.is_set():
            self.ops = self.scraper.scrape()
            self._stop.wait(self.refresh_s)

    def report(self) -> Report:
        with self.lock:
            b = self.builder
            seen = (b.records, sum(len(k) for k in b.receipts.values()), b.events)
            fresh = time.monotonic() - self._built_at < REBUILD_S
            if self._report is None or (seen != self._built_from and not fresh):
                self._report = b.build()
                self._built_from, self._built_at = seen, time.monotonic()
            return self._report

    def status(self) -> dict[str, Any]:
        with self.lock:
            return self.follower.status()

    def page(self) -> str:
        return page(self.report(), self.ops, self.status(), self.refresh_s, self.wall())


def serve(dashboard: Dashboard, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: a free one); call ``serve_forever``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                body, kind = dashboard.page().encode(), "text/html; charset=utf-8"
            elif path == "/report.json":
                body, kind = to_json(dashboard.report()), "application/json"
            elif path == "/ops.json":
                body, kind = ops_json(dashboard.ops, dashboard.status()), "application/json"
            elif path == "/healthz":
                body, kind = b"ok\n", "text/plain"
            else:
                self.send_error(404, "no such page: try /, /report.json or /ops.json")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the terminal every refresh

    return ThreadingHTTPServer((host, port), Handler)
