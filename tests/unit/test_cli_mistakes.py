"""Ordinary mistakes end in one line and an exit code, never a traceback (issue 16, item 9):
a bad --out path, a picture type graph cannot write, a sink channel or provider that cannot
work; and journeys validate passes warnings (the worker runs such journeys) and fails errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli import _register, app
from app.paths import JOURNEYS_DIR

_register()  # every command on ``app``
runner = CliRunner()


def one_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def onboarding_with_an_unreachable_step(folder: Path) -> Path:
    text = (JOURNEYS_DIR / "onboarding.yaml").read_text()
    jumped = text.replace(
        "  - id: remember_plan", "    next: wait_first_step\n  - id: remember_plan"
    )
    assert jumped != text
    path = folder / "onboarding.yaml"
    path.write_text(jumped)
    return path


def test_validate_shows_warnings_and_passes_as_the_worker_runs_the_journey(tmp_path: Path) -> None:
    journey = onboarding_with_an_unreachable_step(tmp_path)
    result = runner.invoke(app, ["journeys", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    warning, summary = result.output.strip().splitlines()
    assert warning.startswith(f"{journey}: steps[1]: warning: step 'remember_plan' can never")
    assert summary == "1 journey valid, 1 warning"


def test_validate_fails_on_errors_and_counts_the_warnings_apart(tmp_path: Path) -> None:
    onboarding_with_an_unreachable_step(tmp_path)
    shutil.copy(JOURNEYS_DIR / "cart_recovery.yaml", tmp_path / "cart.yaml")
    (tmp_path / "bad.yaml").write_text("id: x\n")
    result = runner.invoke(app, ["journeys", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "3 errors in 1 file, 1 warning; 2 of 3 journeys valid"
    )


@pytest.mark.parametrize("name", ["chart.png", "chart.pdf", "chart"])
def test_graph_refuses_a_picture_type_it_cannot_write_before_printing_anything(
    tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    args = ["journeys", "graph", str(JOURNEYS_DIR / "onboarding.yaml"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = one_line(result)  # no Mermaid first
    assert line.startswith(f"--out {out}: cannot write")
    assert line.endswith("use .html, .htm, .svg, .mmd or .mermaid")
    assert not out.exists()


def test_graph_refuses_an_out_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "chart.svg"
    args = ["journeys", "graph", str(JOURNEYS_DIR / "onboarding.yaml"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert one_line(result) == f"--out {out}: the folder {out.parent} does not exist"


def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    result = runner.invoke(
        app, ["simulate", "--rate", "5", "--duration", "2", "--quiet", "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--rate", "5", "--duration", "2", "--out", "{bad}"],
        ["replay", "--journeys", str(JOURNEYS_DIR), "--events", "{events}", "--out", "{bad}"],
        [
            "replay",
            "--journeys",
            str(JOURNEYS_DIR),
            "--events",
            "{events}",
            "--out",
            "{good}",
            "--outcomes",
            "{bad}",
        ],
    ],
    ids=["simulate", "replay --out", "replay --outcomes"],
)
def test_an_output_file_in_a_missing_folder_is_one_line_before_any_work(
    tmp_path: Path, command: list[str]
) -> None:
    bad = tmp_path / "missing" / "out.jsonl"
    values = {
        "bad": str(bad),
        "events": str(events_file(tmp_path)),
        "good": str(tmp_path / "a.jsonl"),
    }
    result = runner.invoke(app, [arg.format(**values) for arg in command])
    assert result.exit_code == 2
    assert one_line(result).endswith(f"{bad}: the folder {bad.parent} does not exist")
    assert not (tmp_path / "a.jsonl").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["report", "backtest"])
def test_an_output_folder_under_a_file_is_one_line_before_any_work(
    tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "folder"
    events = events_file(tmp_path)
    outcomes = tmp_path / "o.jsonl"
    outcomes.write_text("")
    args = {
        "report": ["report", "--outcomes", str(outcomes), "--out", str(out)],
        "backtest": [
            "backtest",
            "--journeys",
            str(JOURNEYS_DIR),
            "--against",
            str(JOURNEYS_DIR),
            "--events",
            str(events),
            "--out",
            str(out),
        ],
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert one_line(result) == f"--out {out}: {blocker} is a file, not a folder"


def test_a_sink_of_no_channel_is_one_line() -> None:
    result = runner.invoke(app, ["sink", "mail"])
    assert result.exit_code == 2
    assert one_line(result) == (
        "segue sink: no channel 'mail'; one of email, sms, push, webhook, in_app, agent"
    )


def test_a_webhook_sink_without_a_url_is_one_line_before_the_broker_is_asked() -> None:
    env = {"SEGUE_SINK_WEBHOOK__KIND": "http", "SEGUE_BOOTSTRAP_SERVERS": "192.0.2.1:9"}
    result = runner.invoke(app, ["sink", "webhook"], env=env)
    assert result.exit_code == 2
    assert one_line(result) == (
        "segue sink: SEGUE_SINK_WEBHOOK__URL: the webhook provider (kind http) needs a url"
    )
    env["SEGUE_SINK_WEBHOOK__URL"] = "hooks.example.com/x?token=secret"
    result = runner.invoke(app, ["sink", "webhook"], env=env)
    line = one_line(result)
    assert line.endswith("must be an http:// or https:// address with a host")
    assert "secret" not in line  # a URL may carry a token: never shown


def test_a_provider_kind_that_does_not_exist_is_one_line() -> None:
    result = runner.invoke(app, ["sink", "email"], env={"SEGUE_SINK_EMAIL__KIND": "pigeon"})
    assert result.exit_code == 2
    line = one_line(result)
    assert line.startswith("SEGUE_SINK_EMAIL__KIND: ") and "'smtp'" in line
