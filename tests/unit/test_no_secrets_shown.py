"""No secret (the SASL password, a sink's password, secret or HMAC callback key) is shown by the
settings' text, any command's --help, or the metrics."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client import REGISTRY, generate_latest

from app.paths import ROOT
from app.settings import Settings, load_settings

SECRET = "s3cr3t-never-shown"
ENV = {
    "SEGUE_SASL_PASSWORD": SECRET,
    "SEGUE_SASL_USERNAME": "svc",
    "SEGUE_SINK_EMAIL": f'{{"kind": "smtp", "host": "127.0.0.1", "password": "{SECRET}"}}',
    "SEGUE_SINK_WEBHOOK": f'{{"kind": "http", "url": "http://127.0.0.1:1", "secret": "{SECRET}"}}',
}
COMMANDS = [
    [],
    ["worker"],
    ["sink"],
    ["sink-callbacks"],
    ["replay"],
    ["report"],
    ["dashboard"],
    ["audit"],
    ["profile", "export"],
    ["broker", "start"],
    ["topics", "apply"],
]


def test_settings_text_hides_the_password_but_the_client_gets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in str(settings.model_dump())
    assert isinstance(settings, Settings)
    assert settings.kafka_config()["sasl.password"] == SECRET  # what librdkafka needs


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "segue")
def test_help_never_shows_a_secret(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", *command, "--help"],
        cwd=ROOT,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_metrics_never_show_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    load_settings()
    import app.sinks.worker
    import app.worker.run  # noqa: F401 (registers the worker's)

    assert SECRET.encode() not in generate_latest(REGISTRY)
