"""Issue 17, estate settings: every librdkafka security option, a passthrough for the rest,
client.id per component, every id under the topic prefix, topics checked instead of created."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka.admin import ConfigResource
from pydantic import ValidationError
from typer.testing import CliRunner

from app import kafka_io
from app.settings import LIBRDKAFKA_KEYS, Settings, load_settings, name_clients
from app.topics import check
from app.topics.specs import TopicNames, load_specs

SECRET = "s3cr3t-never-shown"


# -- every setting onto its librdkafka key -----------------------------------------------------

#: each connection setting, a value and the librdkafka key and value it must become
MAPPED: list[tuple[str, Any, str, str]] = [
    ("security_protocol", "SASL_SSL", "security.protocol", "SASL_SSL"),
    ("sasl_mechanism", "OAUTHBEARER", "sasl.mechanism", "OAUTHBEARER"),
    ("sasl_mechanism", "GSSAPI", "sasl.mechanism", "GSSAPI"),
    ("sasl_username", "svc", "sasl.username", "svc"),
    ("sasl_password", SECRET, "sasl.password", SECRET),
    ("sasl_oauthbearer_method", "default", "sasl.oauthbearer.method", "default"),
    ("sasl_oauthbearer_client_id", "segue-app", "sasl.oauthbearer.client.id", "segue-app"),
    ("sasl_oauthbearer_client_secret", SECRET, "sasl.oauthbearer.client.secret", SECRET),
    (
        "sasl_oauthbearer_token_endpoint_url",
        "https://idp.example/oauth2/token",
        "sasl.oauthbearer.token.endpoint.url",
        "https://idp.example/oauth2/token",
    ),
    ("sasl_oauthbearer_scope", "kafka", "sasl.oauthbearer.scope", "kafka"),
    (
        "sasl_oauthbearer_extensions",
        "logicalCluster=lkc-1,identityPoolId=pool-2",
        "sasl.oauthbearer.extensions",
        "logicalCluster=lkc-1,identityPoolId=pool-2",
    ),
    ("sasl_kerberos_service_name", "kafka", "sasl.kerberos.service.name", "kafka"),
    (
        "sasl_kerberos_principal",
        "segue@EXAMPLE.COM",
        "sasl.kerberos.principal",
        "segue@EXAMPLE.COM",
    ),
    ("sasl_kerberos_keytab", "/etc/segue.keytab", "sasl.kerberos.keytab", "/etc/segue.keytab"),
    ("ssl_cafile", "/etc/ssl/ca.pem", "ssl.ca.location", "/etc/ssl/ca.pem"),
    ("ssl_ca_location", "/etc/ssl/certs", "ssl.ca.location", "/etc/ssl/certs"),
    ("ssl_ca_location", "probe", "ssl.ca.location", "probe"),
    ("ssl_certfile", "/etc/ssl/segue.pem", "ssl.certificate.location", "/etc/ssl/segue.pem"),
    ("ssl_keyfile", "/etc/ssl/segue.key", "ssl.key.location", "/etc/ssl/segue.key"),
    ("ssl_key_password", SECRET, "ssl.key.password", SECRET),
    (
        "ssl_endpoint_identification_algorithm",
        "none",
        "ssl.endpoint.identification.algorithm",
        "none",
    ),
]


@pytest.mark.parametrize(("field", "value", "key", "expected"), MAPPED)
def test_each_setting_from_the_environment_sets_its_librdkafka_key(
    monkeypatch: pytest.MonkeyPatch, field: str, value: Any, key: str, expected: str
) -> None:
    monkeypatch.setenv(f"SEGUE_{field.upper()}", value)
    conf = Settings().kafka_config()
    assert conf[key] == expected
    assert LIBRDKAFKA_KEYS[field] == key


def test_every_connection_setting_is_mapped_and_tested() -> None:
    assert {field for field, *_ in MAPPED} | {"bootstrap_servers"} == set(LIBRDKAFKA_KEYS)


def test_unset_settings_set_nothing() -> None:
    conf = Settings().kafka_config()
    assert set(conf) == {"logger", "client.id", "bootstrap.servers", "security.protocol"}


def test_oidc_needs_its_client_and_endpoint() -> None:
    with pytest.raises(ValidationError, match="SEGUE_SASL_OAUTHBEARER_CLIENT_SECRET"):
        Settings(
            sasl_mechanism="OAUTHBEARER",
            sasl_oauthbearer_method="oidc",
            sasl_oauthbearer_client_id="c",
            sasl_oauthbearer_token_endpoint_url="https://idp.example/token",
        )
    conf = Settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauthbearer_method="oidc",
        sasl_oauthbearer_client_id="c",
        sasl_oauthbearer_client_secret=SECRET,
        sasl_oauthbearer_token_endpoint_url="https://idp.example/token",
    ).kafka_config()
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.secret"] == SECRET


def test_the_ca_is_set_one_way_only() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(ssl_cafile=Path("/etc/ssl/ca.pem"), ssl_ca_location="/etc/ssl/certs")


# -- the passthrough: SEGUE_KAFKA_EXTRA -------------------------------------------------------


def test_any_other_property_passes_through_as_librdkafka_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "SEGUE_KAFKA_EXTRA",
        '{"ssl.crl.location": "/etc/ssl/crl.pem", "socket.keepalive.enable": true, '
        '"reconnect.backoff.max.ms": 5000, "ssl.keystore.password": "' + SECRET + '"}',
    )
    conf = Settings().kafka_config()
    assert conf["ssl.crl.location"] == "/etc/ssl/crl.pem"
    assert conf["socket.keepalive.enable"] == "true"
    assert conf["reconnect.backoff.max.ms"] == "5000"
    assert conf["ssl.keystore.password"] == SECRET


def test_a_client_s_own_settings_take_precedence_over_the_passthrough() -> None:
    settings = Settings(kafka_extra={"enable.auto.commit": "true", "linger.ms": "100"})
    assert settings.kafka_config(**{"enable.auto.commit": False})["enable.auto.commit"] is False
    assert settings.kafka_config()["linger.ms"] == "100"  # where Segue sets nothing, it holds


@pytest.mark.parametrize(
    ("key", "told"),
    [
        ("group.id", "SEGUE_TOPIC_PREFIX"),
        ("transactional.id", "SEGUE_TOPIC_PREFIX"),
        ("client.id", "SEGUE_CLIENT_ID"),
        ("bootstrap.servers", "SEGUE_BOOTSTRAP_SERVERS"),
        ("sasl.password", "SEGUE_SASL_PASSWORD"),
        ("ssl.ca.location", "SEGUE_SSL_CA_LOCATION"),
    ],
)
def test_the_passthrough_refuses_what_segue_sets_and_never_shows_a_value(
    monkeypatch: pytest.MonkeyPatch, key: str, told: str
) -> None:
    monkeypatch.setenv("SEGUE_KAFKA_EXTRA", f'{{"{key}": "{SECRET}"}}')
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert told in str(caught.value)
    assert SECRET not in str(caught.value)


def test_no_secret_is_shown_by_the_settings_text(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SEGUE_SASL_PASSWORD",
        "SEGUE_SASL_OAUTHBEARER_CLIENT_SECRET",
        "SEGUE_SSL_KEY_PASSWORD",
    ):
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("SEGUE_KAFKA_EXTRA", f'{{"ssl.keystore.password": "{SECRET}"}}')
    settings = load_settings()
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert SECRET not in text
    conf = settings.kafka_config()
    assert [k for k, v in conf.items() if v == SECRET] == [
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.password",
        "ssl.keystore.password",
    ]


def test_a_property_librdkafka_refuses_is_one_line_from_the_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.broker import reach

    monkeypatch.setattr(reach, "away", lambda *_a, **_k: None)  # something listens
    settings = Settings(kafka_extra={"no.such.property": "1"})
    with pytest.raises(reach.BrokerAway) as caught:
        reach.probe(settings)
    assert str(caught.value).startswith("the Kafka client settings are refused: ")
    assert "no.such.property" in str(caught.value) and "\n" not in str(caught.value)


# -- client.id per component ------------------------------------------------------------------


def test_client_id_names_the_component_under_the_prefix() -> None:
    plain = Settings()
    assert plain.kafka_config()["client.id"] == "segue"
    assert plain.for_component("worker-0").kafka_config()["client.id"] == "segue-worker-0"
    assert plain.for_component("sink-email").kafka_client_id == "segue-sink-email"
    prefixed = Settings(topic_prefix="prod.", client_id="journeys")
    worker = prefixed.for_component("worker-3.1")
    assert worker.kafka_config()["client.id"] == "prod.journeys-worker-3.1"
    assert worker.admin_config()["client.id"] == "prod.journeys-worker-3.1-admin"
    assert prefixed.kafka_client_id == "prod.journeys"  # the original is left as it was
    assert worker.model_dump() == prefixed.model_dump()  # the same settings otherwise


def test_a_command_s_clients_are_named_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import _register
    from app.cli import app as cli

    captured: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka_io, "Consumer", lambda conf: captured.append(conf))
    _register()
    try:
        assert CliRunner().invoke(cli, ["topics", "list"]).exit_code == 0
        # what the command's own clients get (`segue tail` is named segue-cli-tail so)
        kafka_io.make_consumer(load_settings(topic_prefix="x.", broker_profile="kafka"))
        kafka_io.make_consumer(load_settings(broker_profile="kafka"))
    finally:
        name_clients(None)
    assert captured[0]["client.id"] == "x.segue-cli-topics"
    assert re.fullmatch(r"x\.segue-cli-[0-9a-f]{8}", captured[0]["group.id"])
    assert captured[1]["client.id"] == "segue-cli-topics"
    assert re.fullmatch(r"segue-cli-[0-9a-f]{8}", captured[1]["group.id"])  # as before
    assert load_settings().kafka_client_id == "segue"  # outside a command


def test_a_sink_s_clients_are_named_after_its_channel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.sinks.config import SinkSettings
    from app.sinks.worker import SinkWorker

    confs: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka_io, "Consumer", lambda conf: confs.append(conf) or SimpleNamespace())
    monkeypatch.setattr(kafka_io, "Producer", lambda conf: confs.append(conf) or SimpleNamespace())
    monkeypatch.setenv("SEGUE_SINK_EMAIL", f'{{"kind": "file", "path": "{tmp_path / "o"}"}}')
    settings = Settings(topic_prefix="x.", state_dir=tmp_path, broker_profile="kafka")
    worker = SinkWorker(settings, SinkSettings(), "email")
    try:
        assert confs and {c["client.id"] for c in confs} == {"x.segue-sink-email"}
        assert confs[0]["group.id"] == "x.segue-sink-email"
    finally:
        worker.store.close()


# -- ids under the prefix; unchanged without one ----------------------------------------------


def test_group_and_transactional_ids_are_under_the_prefix_and_unchanged_without_one() -> None:
    from app.sinks.worker import group_id as sink_group
    from app.worker.run import group_id, transactional_id

    plain, prefixed = Settings(), Settings(topic_prefix="team-a.")
    # what existing deployments have (their committed offsets stay theirs)
    assert group_id(plain) == "segue"
    assert transactional_id(plain, "0") == "segue-0"
    assert sink_group(plain, "email") == "segue-sink-email"
    assert plain.cli_group_id().startswith("segue-cli-")
    assert group_id(prefixed) == "team-a.segue"
    assert transactional_id(prefixed, "2.1") == "team-a.segue-2.1"
    assert sink_group(prefixed, "sms") == "team-a.segue-sink-sms"
    assert prefixed.cli_group_id().startswith("team-a.segue-cli-")


# -- topics checked, not created ---------------------------------------------------------------


class FakeAdmin:
    """What check_topics asks an AdminClient: topic metadata and topic configs."""

    def __init__(self, topics: dict[str, int], configs: dict[str, dict[str, str]]) -> None:
        self.topics = topics
        self.configs = configs

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(
            topics={
                name: SimpleNamespace(error=None, partitions=dict.fromkeys(range(n)))
                for name, n in self.topics.items()
            }
        )

    def describe_configs(self, resources: list[ConfigResource], request_timeout: float) -> Any:
        def future(name: str) -> Any:
            entries = {k: SimpleNamespace(value=v) for k, v in self.configs.get(name, {}).items()}
            return SimpleNamespace(result=lambda: entries)

        return {r: future(r.name) for r in resources}


def declared(settings: Settings) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    specs = load_specs(settings)
    return {s.name: s.partitions for s in specs}, {s.name: s.configs() for s in specs}


def checked(
    monkeypatch: pytest.MonkeyPatch, topics: dict[str, int], configs: dict[str, dict[str, str]]
) -> check.CheckReport:
    monkeypatch.setattr(check, "AdminClient", lambda _conf: FakeAdmin(topics, configs))
    return check.check_topics(Settings(topic_prefix="x."))


def test_topics_as_declared_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    report = checked(monkeypatch, *declared(Settings(topic_prefix="x.")))
    assert report.ok and not report.warnings


def test_missing_topics_refuse_in_one_line_that_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = checked(monkeypatch, {}, {})
    assert not report.ok
    line = report.line()
    assert "\n" not in line
    assert "x.events, x.events.receipts, x.segue.dlq and " in line
    assert "SEGUE_CREATE_TOPICS=false" in line and "segue topics apply" in line


def test_what_breaks_the_worker_refuses_what_the_estate_may_choose_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(topic_prefix="x.")
    names = TopicNames(settings)
    topics, configs = declared(settings)
    topics[names.customer_events] = 8  # records go there by explicit partition: refused
    topics[names.events] = 12  # an input of another count is hopped: a warning
    configs[names.timers_changelog] = {"cleanup.policy": "delete"}
    configs[names.identity_changelog] = {"cleanup.policy": "compact,delete", "retention.ms": "1"}
    configs[names.profiles_changelog] = {"cleanup.policy": "compact,delete", "retention.ms": "-1"}
    configs[names.dlq] = {**configs[names.dlq], "retention.ms": "86400000"}
    report = checked(monkeypatch, topics, configs)
    assert report.wrong == [
        "x.segue.customer-events has 8 partitions, needs 4 (SEGUE_PARTITIONS: co-partitioned)",
        "x.segue-journeys-due-changelog has cleanup.policy=delete, needs compact",
        "x.segue-identity-identity-changelog has cleanup.policy=compact,delete: state older "
        "than retention.ms would be lost; needs compact",
    ]
    assert report.warnings == [
        "x.events: has 12 partitions, declared 4",
        "x.segue.dlq: retention.ms is 86400000, declared 2592000000",
    ]
    assert not report.missing and not report.ok


def test_the_internal_hops_are_kept_as_long_as_the_inputs() -> None:
    specs = {s.name: s for s in load_specs(Settings())}
    week = 7 * 24 * 3600 * 1000
    for name in ("segue.customer-events", "segue.identity"):
        assert specs[name].retention_ms == specs["events"].retention_ms == week
