"""``segue journeys validate`` and ``segue journeys graph``: output and exit codes."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from app.paths import JOURNEYS_DIR, ROOT
from tests.unit.journey_cases import write_text

importlib.import_module("app.cli.journeys")  # attaches the journeys commands to ``app``
runner = CliRunner()


def test_validate_examples_exits_0() -> None:
    result = runner.invoke(app, ["journeys", "validate", str(JOURNEYS_DIR)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "7 journeys valid"


def test_validate_with_policies() -> None:
    args = ["journeys", "validate", str(JOURNEYS_DIR), "--policies", str(ROOT / "policies.yaml")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "7 journeys and policies valid"


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "journeys"
    folder.mkdir()
    shutil.copy(JOURNEYS_DIR / "cart_recovery.yaml", folder / "a.yaml")
    text = (JOURNEYS_DIR / "onboarding.yaml").read_text()
    bad = write_text(folder, text.replace("goto: tips_push", "goto: tips_pusj"), "b.yaml")
    policies = write_text(tmp_path, "frequency_caps: [{channel: sms, max: -1, per: 1d}]\n", "p.yml")
    result = runner.invoke(app, ["journeys", "validate", str(folder), "--policies", str(policies)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{bad}: steps[3].split[1].goto: unknown step 'tips_pusj'")
    assert lines[1].startswith(f"{policies}: frequency_caps[0].max: must be at least 0")
    assert lines[2] == "2 errors in 2 files; 1 of 2 journeys valid"


def test_validate_a_single_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["journeys", "validate", str(JOURNEYS_DIR / "churn_save.yaml")])
    assert (result.exit_code, result.output.strip()) == (0, "1 journey valid")


def test_validate_empty_folder_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["journeys", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no journey files" in result.output


def test_graph_prints_mermaid() -> None:
    result = runner.invoke(app, ["journeys", "graph", str(JOURNEYS_DIR / "cart_recovery.yaml")])
    assert result.exit_code == 0, result.output
    assert "flowchart TD" in result.output
    assert 's_route -->|"scores.intent #gt;= 0.6"| s_email_offer' in result.output


def test_graph_writes_html_and_svg(tmp_path: Path) -> None:
    file = str(JOURNEYS_DIR / "onboarding.yaml")
    for name in ("page.html", "picture.svg", "chart.mmd"):
        out = tmp_path / name
        result = runner.invoke(app, ["journeys", "graph", file, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "picture.svg").read_text().startswith("<svg")
    assert (tmp_path / "chart.mmd").read_text().startswith("%% onboarding")


def test_graph_unknown_picture_type(tmp_path: Path) -> None:
    file = str(JOURNEYS_DIR / "onboarding.yaml")
    result = runner.invoke(app, ["journeys", "graph", file, "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2


def test_graph_of_an_invalid_journey_exits_1(tmp_path: Path) -> None:
    bad = write_text(tmp_path, "id: x\n", "bad.yaml")
    result = runner.invoke(app, ["journeys", "graph", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: version: required field is missing" in result.output


NAMES = """\
id: a
version: 1
trigger: {event: CartAbandon}
goal: {event: OrderPlaced}
exit_on: [{event: MyOwnEvent}]
steps:
  - id: s
    send: {channel: email, template: cart_ofer}
  - id: d
    decide:
      propensity: churn
      options: [{id: o, value: 1, channel: sms, template: no_such_template_anywhere}]
"""


def test_validate_warns_of_unknown_event_types_and_missing_templates(tmp_path: Path) -> None:
    folder = tmp_path / "journeys"
    folder.mkdir()
    write_text(folder, NAMES, "a.yaml")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "cart_offer.j2").write_text("hi")
    (templates / "cart_offer.subject.j2").write_text("hi")
    result = runner.invoke(
        app, ["journeys", "validate", str(folder), "--templates", str(templates)]
    )
    assert result.exit_code == 0, result.output  # warnings: the worker runs these files
    lines = result.output.splitlines()
    source = str(folder / "a.yaml")
    assert lines == [
        f"{source}: trigger.event: warning: event type 'CartAbandon' is not a documented one "
        "(docs/events.md); did you mean 'CartAbandoned'?",
        f"{source}: exit_on[0].event: warning: event type 'MyOwnEvent' is not a documented "
        "one (docs/events.md); fine if your producers send it",
        f"{source}: steps[0].send.template: warning: template 'cart_ofer' not found "
        f"({templates}/cart_ofer.j2); did you mean 'cart_offer'?",
        f"{source}: steps[1].decide.options[0].template: warning: template "
        f"'no_such_template_anywhere' not found ({templates}/no_such_template_anywhere.j2)",
        "1 journey valid, 4 warnings",
    ]


def test_the_vocabulary_is_the_documented_one() -> None:
    import re

    from app.core.journeys.vocabulary import EVENT_TYPES

    text = (ROOT / "docs" / "events.md").read_text()
    table = text[text.index("## Vocabulary") : text.index("## ", text.index("## Vocabulary") + 3)]
    documented = {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Za-z]+)`", row.split("|")[1])
    }
    assert documented == EVENT_TYPES - {"ErasureRequested"}


def test_the_example_journeys_name_known_events_and_templates() -> None:
    result = runner.invoke(app, ["journeys", "validate", str(JOURNEYS_DIR)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
