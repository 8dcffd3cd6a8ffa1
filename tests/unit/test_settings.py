from pathlib import Path

import pytest

from app.settings import EMBEDDED_BOOTSTRAP, EMBEDDED_PORT, Settings
from tests.unit.test_broker_profile import sleeping_tansu


def test_field_names_work_as_keywords_despite_aliases() -> None:
    assert Settings(bootstrap_servers="10.0.0.1:9092").bootstrap_servers == "10.0.0.1:9092"


def test_kafka_bootstrap_servers_env_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.broker import detect

    monkeypatch.setattr(detect, "ask_cluster_id", lambda *_: "JfdR9h7QShycrpedglzfJw")
    monkeypatch.delenv("SEGUE_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SEGUE_BROKER_PROFILE", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    settings = Settings()
    assert settings.bootstrap_servers == "broker:9092"
    assert not settings.tansu_profile  # a real Kafka: no Tansu workarounds


def test_embedded_address_takes_the_profile_of_the_broker_started_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SEGUE_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SEGUE_BROKER_PROFILE", raising=False)
    settings = Settings(state_dir=tmp_path)
    assert settings.bootstrap_servers == EMBEDDED_BOOTSTRAP
    assert not settings.tansu_profile  # nothing started there: no workarounds
    with sleeping_tansu(tmp_path / f"broker-{EMBEDDED_PORT}.pid"):
        assert Settings(state_dir=tmp_path).tansu_profile
    assert Settings(state_dir=tmp_path, broker_profile="kafka").tansu_profile is False


def test_sasl_settings_map_onto_librdkafka_keys() -> None:
    settings = Settings(
        bootstrap_servers="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="s3cret",
    )
    conf = settings.kafka_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "svc"
    assert conf["sasl.password"] == "s3cret"
    assert "s3cret" not in repr(settings)  # SecretStr keeps it out of logs


def test_the_identity_priority_is_a_setting_with_the_documented_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.identity import DEFAULT_PRIORITY

    monkeypatch.delenv("SEGUE_IDENTITY_PRIORITY", raising=False)
    assert Settings().identity_config.priority == DEFAULT_PRIORITY
    monkeypatch.setenv("SEGUE_IDENTITY_PRIORITY", "anonymous_id, email_hash")
    assert Settings().identity_config.priority == ("anonymous_id", "email_hash")


@pytest.mark.parametrize("bad", ["email_hash,device_id", "anonymous_id,mac_address", ""])
def test_a_bad_identity_priority_is_refused(bad: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(identity_priority=bad)
