"""``SEGUE_BROKER_PROFILE=auto`` asks the broker under test which broker it is (on a free port,
with no pid file of Segue's for it: the state folder is the test's own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.broker import detect
from app.settings import Settings
from tests.integration.broker import BrokerUnderTest


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    detect.forget()
    yield
    detect.forget()


def test_auto_recognises_the_broker_under_test(broker: BrokerUnderTest, tmp_path: Path) -> None:
    settings = Settings(
        bootstrap_servers=broker.bootstrap, broker_profile="auto", state_dir=tmp_path
    )
    assert detect.ask_cluster_id(broker.bootstrap, settings.kafka_config()) is not None
    assert settings.tansu_profile is broker.tansu
