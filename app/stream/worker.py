"""Run the stream worker: declare topics, start metrics, hand control to faust."""

from __future__ import annotations

import logging
from pathlib import Path

from faust.worker import Worker
from prometheus_client import start_http_server

from app.settings import Settings
from app.stream.pipeline import create_app, faust_id
from app.topics.apply import apply_topics

log = logging.getLogger("segue.worker")


def data_dir_for(settings: Settings, worker_id: str) -> Path:
    return settings.state_dir / f"{faust_id(settings)}-worker-{worker_id}"


def run_worker(settings: Settings, worker_id: str = "0") -> None:
    report = apply_topics(settings)
    for line in report.mismatches:
        log.warning("topic mismatch: %s", line)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    data_dir = data_dir_for(settings, worker_id)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, data_dir)
    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
