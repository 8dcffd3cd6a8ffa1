"""``segue worker``: the journeys, identity and ingest agents on the runtime (app/runtime/).

    events, events.receipts --ingest--> segue.customer-events (key = customer id) --journeys-->
        (anonymous events and identifier claims: --> segue.identity --identity--> identity store)
        profiles store (profile + journey state), due store (timers): RocksDB + changelogs
        actions.<channel>, segue.decisions
    invalid input --> segue.dlq (reason, bytes)

One Runtime per process: one consumer in the group ``{prefix}{app_id}``, one producer, one
checkpoint for all three agents (docs/live.md).
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

from app import incarnation
from app.core.journeys import DefinitionError, Engine, load_journeys, load_policies
from app.core.journeys.compiled import CompileError
from app.core.journeys.problems import DefinitionProblem
from app.formats.deployment import Formats, load_formats
from app.formats.registry import SchemaSetupError
from app.kafka_io import partitions_of
from app.metrics_endpoint import WORKER_PORT, MetricsError, serve_metrics
from app.models.artifact import ArtifactError
from app.models.scorer import load_scorer, models_folder, served
from app.privacy import audit
from app.runtime.loop import Runtime
from app.settings import Settings
from app.stream.identity_agent import IdentityProcessor, IngestRouter
from app.stream.journey_agent import JourneyProcessor
from app.stream.latency import LatencyTracker
from app.stream.sink import Batch
from app.topics.apply import apply_topics
from app.topics.check import check_topics
from app.topics.specs import TopicNames
from app.worker import ingest
from app.worker.identity import identity_agent
from app.worker.ingest import TALLY, forward, ingest_agent
from app.worker.journeys import PartitionClocks, RuntimeSink, journeys_agent

log = logging.getLogger("segue.worker")

#: how often latency windows are closed and checked against the budget
REPORT_INTERVAL_S = 5.0


class StartError(RuntimeError):
    """The worker cannot start: the message says what to fix (journeys, policies, models)."""


def group_id(settings: Settings) -> str:
    """The consumer group: the prefix too, so that deployments sharing an estate do not mix."""
    return f"{settings.topic_prefix}{settings.app_id}"


def transactional_id(settings: Settings, worker_id: str) -> str:
    """exactly_once: the worker's producer's id, under the prefix like its group (prefix ACLs)."""
    return f"{group_id(settings)}-{worker_id}"


def state_dir_for(settings: Settings, worker_id: str) -> Path:
    return settings.state_dir / f"{group_id(settings)}-runtime-{worker_id}"


def topics_ready(settings: Settings) -> None:
    """With SEGUE_CREATE_TOPICS=false (--no-create-topics): the declared topics must be there
    as the worker needs them (app/topics/check.py); StartError (one line) if not."""
    checked = check_topics(settings)
    for line in checked.warnings:
        log.warning("topic mismatch: %s", line)
    if not checked.ok:
        raise StartError(checked.line())


def load_engine(settings: Settings, journeys_dir: Path, policies_file: Path | None) -> Engine:
    """The engine the worker runs: validated journeys and policies, the configured scorer."""
    if not journeys_dir.is_dir():
        raise StartError(f"journeys folder {journeys_dir} does not exist")
    try:
        warnings: list[DefinitionProblem] = []
        journeys = load_journeys(journeys_dir, warnings)
        for warning in warnings:  # allowed by the spec, so run; said, as validate says them
            log.warning("%s", warning)
        policies = load_policies(policies_file)
        scorer = load_scorer(models_folder(settings.models_dir, journeys_dir))
        return Engine(journeys, policies, scorer, duplicates=settings.duplicates)
    except DefinitionError as exc:
        raise StartError(f"invalid definitions:\n{exc}") from None
    except CompileError as exc:
        raise StartError(f"invalid definitions: {exc}") from None
    except ArtifactError as exc:
        raise StartError(f"models: {exc}") from None


def build_runtime(
    settings: Settings,
    engine: Engine,
    state_dir: Path,
    worker_id: str,
    formats: Formats | None = None,
) -> Runtime:
    names = TopicNames(settings)
    formats = formats or Formats()
    ingest.DECODER = formats.decoder  # input records in the wire format: their registry
    exactly_once = settings.processing_guarantee == "exactly_once"
    if exactly_once and settings.tansu_profile:
        raise StartError(
            "processing_guarantee=exactly_once needs a broker with transactions (Apache Kafka); "
            "Tansu accepts them without isolating them: use at_least_once there"
        )
    runtime = Runtime(
        settings,
        [],
        state_dir,
        group_id(settings),
        commit_interval_s=settings.commit_interval_ms / 1000,
        exactly_once=exactly_once,
        transactional_id=transactional_id(settings, worker_id),
        # static membership: a worker restarted under its id (a crash, a deploy) gets its
        # partitions back without a rebalance; docs/live.md, "Rebalances"
        instance_id=f"{group_id(settings)}-{worker_id}",
    )
    sink = RuntimeSink(runtime.producer)
    latency = LatencyTracker(settings.latency_budget_ms)
    config = settings.identity_config
    router = IngestRouter(names, sink, settings.partitions, config)
    journeys = JourneyProcessor(
        engine,
        names,
        sink,
        PartitionClocks(),
        latency,
        partitions=settings.partitions,
        on_erased=router.claims.forget,
        writer=formats.writer,
    )
    window = settings.event_time_window

    def admit(out: Batch, message: Any, partition: int) -> dict[str, Any] | None:
        return forward(names, sink, out, router, message, here=partition, window=window)

    # inputs with customer-events' partition count are co-partitioned with it (the range
    # assignment): their events on the right partition skip the hop through customer-events
    counts = {t: len(partitions_of(runtime.consumer, t)) for t in names.inputs}
    direct = tuple(t for t in names.inputs if counts[t] == settings.partitions)
    hopped = tuple(t for t in names.inputs if counts[t] != settings.partitions)
    for topic in hopped:
        log.warning(
            "input %s has %d partitions, customer-events %d: its events all go through "
            "customer-events (one more hop each)",
            topic,
            counts[topic],
            settings.partitions,
        )
    agents = [
        identity_agent(IdentityProcessor(names, sink, settings.partitions, config), names.identity),
        journeys_agent(journeys, names.customer_events, direct, admit),
    ]
    if hopped:
        agents.append(ingest_agent(names, sink, router, hopped, window))
    runtime.add_agents(agents)
    reported = [time.monotonic()]

    def report() -> None:
        TALLY.flush()
        if time.monotonic() - reported[0] >= REPORT_INTERVAL_S:
            reported[0] = time.monotonic()
            latency.report()

    runtime.housekeeping = report
    return runtime


def run_worker(
    settings: Settings,
    worker_id: str = "0",
    journeys_dir: Path = Path("journeys"),
    policies_file: Path | None = None,
) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # every client of this process is named after the worker (client.id segue-worker-<id>)
    settings = settings.for_component(f"worker-{worker_id}")
    if not settings.create_topics:
        topics_ready(settings)  # first: a refusal is the one line said
    try:  # register (topics provisioned elsewhere: look up) the schemas of what it writes
        formats = load_formats(settings, register=settings.create_topics)
    except SchemaSetupError as exc:
        raise StartError(str(exc)) from None
    engine = load_engine(settings, journeys_dir, policies_file)
    log.info(
        "journeys: %s; policies: %s",
        ", ".join(f"{j}@v{max(vs)}" for j, vs in sorted(engine.versions.items())) or "none",
        policies_file or "defaults",
    )
    log.info("%s", served(engine.scorer, models_folder(settings.models_dir, journeys_dir)))
    if settings.create_topics:
        report = apply_topics(settings)
        for line in report.mismatches:
            log.warning("topic mismatch: %s", line)
    for done in formats.registered:
        log.info(
            "schema %s: id %d%s", done.subject, done.schema_id, " (new)" if done.created else ""
        )
    state_dir = state_dir_for(settings, worker_id)
    runtime = build_runtime(settings, engine, state_dir, worker_id, formats)
    # the state folder must be this broker's (issue 16), before anything is served or published;
    # the claim is held while the worker runs (segue state reset waits for it)
    try:
        claim = incarnation.check(
            settings,
            state_dir,
            f"worker {worker_id}",
            runtime.state_topics(),
            runtime.reached_offsets(),
        )
    except (incarnation.StateMismatch, incarnation.StateBusy) as exc:
        runtime.close()
        raise StartError(str(exc)) from None
    try:
        # its own default port, or a free one when taken: one line names it (issue 16)
        serve_metrics(settings, WORKER_PORT, log)
    except MetricsError as exc:
        runtime.close()
        raise StartError(str(exc)) from None
    # what this process serves from now on, on record before it reads an event (docs/privacy.md)
    try:
        audit.publish(
            settings,
            audit.deploy_record(
                engine, journeys_dir, policies_file, worker_id, int(time.time() * 1000)
            ),
        )
    except audit.AuditError as exc:
        raise StartError(str(exc)) from None
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    log.info("worker %s started (group %s, state %s)", worker_id, group_id(settings), state_dir)
    try:
        runtime.run(lambda: bool(stopping))
    finally:
        claim.release()
    log.info("worker %s stopped", worker_id)
