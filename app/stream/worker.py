"""Run the stream worker: load and check the journeys, declare topics, start metrics, run faust."""

from __future__ import annotations

import logging
from pathlib import Path

from faust.worker import Worker
from prometheus_client import start_http_server

from app.core.journeys import DefinitionError, Engine, load_journeys, load_policies
from app.core.journeys.compiled import CompileError
from app.models.artifact import ArtifactError
from app.models.scorer import load_scorer
from app.settings import Settings
from app.stream.pipeline import create_app, faust_id
from app.topics.apply import apply_topics

log = logging.getLogger("segue.worker")


class StartError(RuntimeError):
    """The worker cannot start: the message says what to fix (journeys, policies, models)."""


class SegueWorker(Worker):
    """faust's worker, with the root logger left at the configured level.

    faust's start-up spinner sets the root logger to DEBUG for good (``_setup_spinner_handler``),
    so every ``log.debug`` in faust, mode and aiokafka built a record that the handlers then
    dropped: 3.8% of the worker's sampled stacks under load (py-spy, bench/profile_worker.py).
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if level:
            logger.setLevel(level)


def data_dir_for(settings: Settings, worker_id: str) -> Path:
    return settings.state_dir / f"{faust_id(settings)}-worker-{worker_id}"


def load_engine(settings: Settings, journeys_dir: Path, policies_file: Path | None) -> Engine:
    """The engine the worker runs: validated journeys and policies, the configured scorer."""
    if not journeys_dir.is_dir():
        raise StartError(f"journeys folder {journeys_dir} does not exist")
    try:
        journeys = load_journeys(journeys_dir)
        policies = load_policies(policies_file)
        scorer = load_scorer(settings.models_dir)
        return Engine(journeys, policies, scorer)
    except DefinitionError as exc:
        raise StartError(f"invalid definitions:\n{exc}") from None
    except CompileError as exc:
        raise StartError(f"invalid definitions: {exc}") from None
    except ArtifactError as exc:
        raise StartError(f"models: {exc}") from None


def run_worker(
    settings: Settings,
    worker_id: str = "0",
    journeys_dir: Path = Path("journeys"),
    policies_file: Path | None = None,
) -> None:
    engine = load_engine(settings, journeys_dir, policies_file)
    log.info(
        "journeys: %s; policies: %s; models: %s",
        ", ".join(f"{j}@v{max(vs)}" for j, vs in sorted(engine.versions.items())) or "none",
        policies_file or "defaults",
        engine.model_version,
    )
    report = apply_topics(settings)
    for line in report.mismatches:
        log.warning("topic mismatch: %s", line)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    data_dir = data_dir_for(settings, worker_id)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, data_dir, engine)
    SegueWorker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
