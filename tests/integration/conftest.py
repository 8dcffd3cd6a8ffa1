from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.registry import RegistryProcess, start_registry
from tests.integration.broker import BrokerUnderTest, broker_under_test
from tests.integration.support import Deployment, WorkerProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerUnderTest]:
    with broker_under_test(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A real Confluent-compatible schema registry (Apicurio, `make registry`), one per run:
    tests keep apart by their deployments' topic prefixes, so their subjects never meet."""
    with start_registry(log_dir=tmp_path_factory.mktemp("schema-registry")) as started:
        yield started


@pytest.fixture
def real_kafka(broker: BrokerUnderTest) -> BrokerUnderTest:
    if broker.tansu:
        pytest.skip("Tansu 0.6.0 neither isolates transactions nor compacts nor persists")
    return broker


@pytest.fixture
def deployment(broker: BrokerUnderTest, tmp_path: Path) -> Deployment:
    return Deployment(broker, tmp_path)


@pytest.fixture
def start_worker(deployment: Deployment) -> Iterator[object]:
    started: list[WorkerProcess] = []

    def start(worker_id: str = "0", *args: str) -> WorkerProcess:
        worker = WorkerProcess(deployment, worker_id, args).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
