"""policies.yaml: defaults, and one broken file per rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.journeys import DefinitionError, load_policies
from app.paths import ROOT
from tests.unit.journey_cases import write_text

DEFAULT_CATEGORIES = {
    name: {"suppress_when": None, "bypass": [], "consent": {}}
    for name in ("promotional", "transactional", "service")
}


def test_no_file_means_defaults() -> None:
    assert load_policies(None) == {
        "frequency_caps": [],
        "quiet_hours": None,
        "categories": DEFAULT_CATEGORIES,
        "global_control": None,
        "consent": {},
        "reachability": {},
    }


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_policies(write_text(tmp_path, "# nothing\n", "p.yaml")) == load_policies(None)


def test_defaults_fill_quiet_hours_and_categories(tmp_path: Path) -> None:
    text = (
        'quiet_hours: {start: "22:00", end: "07:30"}\n'
        "categories:\n  service: {bypass: [quiet_hours]}\n"
    )
    policies = load_policies(write_text(tmp_path, text, "p.yaml"))
    assert policies["quiet_hours"] == {
        "start": "22:00",
        "end": "07:30",
        "default_timezone": "UTC",
        "action": "defer",
    }
    assert policies["categories"]["service"] == {
        "suppress_when": None,
        "bypass": ["quiet_hours"],
        "consent": {},
    }
    assert policies["categories"]["promotional"] == {
        "suppress_when": None,
        "bypass": [],
        "consent": {},
    }


def test_example_policies_file() -> None:
    policies = load_policies(ROOT / "policies.yaml")
    assert {"channel": "sms", "max": 1, "per": "24h"} in policies["frequency_caps"]
    assert policies["quiet_hours"]["action"] == "defer"
    promotional = policies["categories"]["promotional"]["suppress_when"]
    assert promotional.startswith("profile.open_tickets > 0 ||")
    assert 'now - profile.last_event_at["TicketOpened"] < duration("1h")' in promotional
    assert policies["categories"]["transactional"]["bypass"] == ["frequency_caps", "quiet_hours"]


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("quiet_hours: {start: 21:00, end: '08:00'}", "quiet_hours.start", "in quotes"),
        ("quiet_hours: {start: '25:00', end: '08:00'}", "quiet_hours.start", "HH:MM"),
        ("quiet_hours: {start: '9:00', end: '08:00'}", "quiet_hours.start", "HH:MM"),
        ("quiet_hours: {start: '21:00'}", "quiet_hours.end", "required"),
        ("quiet_hours: {start: '08:00', end: '08:00'}", "quiet_hours.end", "must differ"),
        (
            "quiet_hours: {start: '21:00', end: '08:00', action: later}",
            "quiet_hours.action",
            "'defer', 'drop'",
        ),
        (
            "quiet_hours: {start: '21:00', end: '08:00', default_timezone: Mars/Base}",
            "quiet_hours.default_timezone",
            "unknown IANA time zone",
        ),
        (
            "frequency_caps: [{channel: sms, max: -1, per: 1d}]",
            "frequency_caps[0].max",
            "at least 0",
        ),
        ("frequency_caps: [{channel: sms, max: 1.5, per: 1d}]", "frequency_caps[0].max", "integer"),
        ("frequency_caps: [{channel: fax, max: 1, per: 1d}]", "frequency_caps[0].channel", "'any'"),
        ("frequency_caps: [{channel: sms, max: 1, per: day}]", "frequency_caps[0].per", "duration"),
        ("frequency_caps: [{channel: sms, max: 1}]", "frequency_caps[0].per", "required"),
        ("categories: {vip: {bypass: []}}", "categories.vip", "unknown field"),
        ("categories: {service: {bypass: [consent]}}", "categories.service.bypass[0]", "one of"),
        (
            "categories: {promotional: {suppress_when: 'profile.open_tickets >'}}",
            "categories.promotional.suppress_when",
            "does not compile",
        ),
        ("global_control: {share: 0.7}", "global_control.share", "0.5"),
        ("global_control: {share: 0}", "global_control.share", "0"),
        ("global_control: {categories: [promotional]}", "global_control.share", "required"),
        (
            "global_control: {share: 0.05, categories: [vip]}",
            "global_control.categories[0]",
            "one of",
        ),
        ("caps: []", "caps", "unknown field"),
        ("- a list", "", "must be a mapping"),
    ],
)
def test_each_policy_rule(tmp_path: Path, text: str, path: str, fragment: str) -> None:
    file = write_text(tmp_path, text + "\n", "p.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_policies(file)
    problems = caught.value.problems
    assert any(p.path == path and fragment in p.message for p in problems), [
        str(p) for p in problems
    ]
    assert all(p.file == str(file) for p in problems)


def test_missing_policies_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="file not found"):
        load_policies(tmp_path / "missing.yaml")


def test_loaded_policies_validate_again() -> None:
    from app.core.journeys import validate_policies

    assert validate_policies(load_policies(ROOT / "policies.yaml"), "p.yaml") == []
    assert validate_policies(load_policies(None), "p.yaml") == []


def test_a_global_control_group_defaults_to_promotional_sends(tmp_path: Path) -> None:
    file = write_text(tmp_path, "global_control: {share: 0.05}\n", "p.yaml")
    assert load_policies(file)["global_control"] == {"share": 0.05, "categories": ["promotional"]}
