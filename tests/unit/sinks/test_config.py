"""Sink settings from the environment: a wrong shape is explained without echoing secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.sinks.config import ProviderConfig, SinkConfigError, SinkSettings, load_sink_settings

SECRET = "hunter2-do-not-print"


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (f'["http", "https://hooks.example", "{SECRET}"]', "a list"),
        (f'"{SECRET}"', "a string"),
        ("42", "a number"),
    ],
)
def test_a_provider_given_in_the_wrong_shape_says_what_is_expected_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, value: str, shape: str
) -> None:
    monkeypatch.setenv("SEGUE_SINK_WEBHOOK", value)
    with pytest.raises(SinkConfigError) as caught:
        load_sink_settings()
    message = str(caught.value)
    assert message == (
        'SEGUE_SINK_WEBHOOK: must be a JSON object of provider settings, e.g. {"kind": "http", '
        f'"url": "https://..."}}, not {shape}'
    )
    with pytest.raises(ValidationError) as raw:  # pydantic's own text hides the input too
        SinkSettings()
    assert SECRET not in str(raw.value)


def test_a_bad_field_names_its_variable_but_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SEGUE_SINK_EMAIL",
        f'{{"kind": "smtp", "port": "{SECRET}", "password": ["{SECRET}"], "username": "u"}}',
    )
    with pytest.raises(SinkConfigError) as caught:
        load_sink_settings()
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "SEGUE_SINK_EMAIL__PORT",
        "SEGUE_SINK_EMAIL__PASSWORD",
    ]
    assert SECRET not in str(caught.value)


def test_a_value_that_is_not_json_is_one_line_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGUE_SINK_SMS", f"{{{SECRET}")
    with pytest.raises(SinkConfigError) as caught:
        load_sink_settings()
    assert '"sms"' in str(caught.value)
    assert "must be a JSON object" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_provider_model_error_hides_its_input() -> None:
    with pytest.raises(ValidationError) as caught:
        ProviderConfig.model_validate({"kind": "http", "secret": [SECRET]})
    assert SECRET not in str(caught.value)


def test_a_valid_provider_object_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUE_SINK_WEBHOOK", '{"kind": "http", "url": "https://h", "secret": "k"}')
    config = load_sink_settings().provider("webhook")
    assert config.kind == "http"
    assert config.secret is not None
    assert config.secret.get_secret_value() == "k"


def test_segue_sink_prints_the_problem_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from typer.testing import CliRunner

    from app.cli import app

    importlib.import_module("app.cli.sink")  # attaches the sink commands to ``app``
    monkeypatch.setenv("SEGUE_SINK_WEBHOOK", f'["http", "{SECRET}"]')
    result = CliRunner().invoke(app, ["sink", "webhook"])
    assert result.exit_code == 2
    assert "SEGUE_SINK_WEBHOOK: must be a JSON object" in result.output
    assert SECRET not in result.output
