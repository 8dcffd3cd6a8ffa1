"""SEGUE_BROKER_PROFILE=auto recognises the broker by what it is, on any port."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.broker import detect
from app.broker.detect import addresses, loopback_port, profile_of_cluster
from app.settings import Settings


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SEGUE_BROKER_PROFILE", "SEGUE_EMBEDDED", "SEGUE_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    detect.forget()
    yield
    detect.forget()


@contextmanager
def sleeping_tansu(pid_file: Path) -> Iterator[None]:
    """A live process whose command line says ``tansu`` (this test's own sleeping child),
    named by ``pid_file`` as ``segue broker start`` names its broker."""
    script = "print('ready', flush=True); import time; time.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", script, "tansu"], stdout=subprocess.PIPE) as proc:
        try:
            # Until the child runs, /proc/PID/cmdline may still be empty: wait for its word.
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            pid_file.write_text(f"{proc.pid}\n")
            yield
        finally:
            proc.kill()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The cluster id each address reports (absent: it does not answer); counts the questions."""
    table: dict[str, Any] = {"asked": 0}

    def ask(bootstrap: str, _config: Any) -> str | None:
        table["asked"] += 1
        return table.get(bootstrap)

    monkeypatch.setattr(detect, "ask_cluster_id", ask)
    return table


def test_cluster_ids_tell_tansu_from_kafka() -> None:
    assert profile_of_cluster("tansu_cluster") == "tansu"  # Tansu's default id
    assert profile_of_cluster("JfdR9h7QShycrpedglzfJw") == "kafka"  # Kafka's: a random UUID
    assert profile_of_cluster("lkc-abc123") == "kafka"  # any other Kafka-compatible broker
    assert profile_of_cluster(None) is None
    assert profile_of_cluster("") is None


def test_bootstrap_lists_are_parsed() -> None:
    assert addresses("a:1, b:2,[::1]:3,nohost") == [("a", 1), ("b", 2), ("::1", 3)]
    assert loopback_port("127.0.0.1:40123") == 40123
    assert loopback_port("localhost:9092") == 9092
    assert loopback_port("10.0.0.1:9092") is None
    assert loopback_port("127.0.0.1:1,127.0.0.1:2") is None


def test_a_tansu_segue_started_on_another_port_gets_the_tansu_profile(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    with sleeping_tansu(tmp_path / "broker-40123.pid"):
        settings = Settings(bootstrap_servers="127.0.0.1:40123", state_dir=tmp_path)
        assert settings.tansu_profile
    assert answers["asked"] == 0  # the pid file told: the broker was not asked


def test_a_tansu_someone_else_started_is_recognised_by_its_cluster_id(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    answers["127.0.0.1:40124"] = "tansu_cluster"
    answers["kafka-1.internal:9092"] = "JfdR9h7QShycrpedglzfJw"
    assert Settings(bootstrap_servers="127.0.0.1:40124", state_dir=tmp_path).tansu_profile
    estate = Settings(bootstrap_servers="kafka-1.internal:9092", state_dir=tmp_path)
    assert not estate.tansu_profile
    assert not estate.tansu_profile
    assert answers["asked"] == 2  # once per address and process


def test_when_nothing_tells_the_kafka_profile_is_chosen_and_said_once(
    tmp_path: Path, answers: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:40125", state_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="segue.broker"):
        assert not settings.tansu_profile
        assert not settings.tansu_profile
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "broker profile: kafka" in lines[0]
    assert "127.0.0.1:40125" in lines[0]
    assert "SEGUE_BROKER_PROFILE=tansu or kafka" in lines[0]


def test_explicit_profiles_and_the_embedded_flag_win(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    answers["127.0.0.1:40126"] = "tansu_cluster"
    address = "127.0.0.1:40126"
    assert not Settings(bootstrap_servers=address, broker_profile="kafka").tansu_profile
    assert Settings(bootstrap_servers="10.0.0.1:9092", broker_profile="tansu").tansu_profile
    assert Settings(bootstrap_servers="10.0.0.1:9092", embedded=True).tansu_profile
    assert answers["asked"] == 0


def test_a_copy_for_another_address_does_not_keep_the_old_answer(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    answers["127.0.0.1:40127"] = "tansu_cluster"
    answers["127.0.0.1:40128"] = "JfdR9h7QShycrpedglzfJw"
    tansu = Settings(bootstrap_servers="127.0.0.1:40127", state_dir=tmp_path)
    assert tansu.tansu_profile
    assert not tansu.model_copy(update={"bootstrap_servers": "127.0.0.1:40128"}).tansu_profile
