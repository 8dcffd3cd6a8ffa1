"""The report page of a real replay, opened in a real browser (headless Chromium)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.browser import render

ROOT = Path(__file__).resolve().parents[2]
#: where the screenshot is kept for a person to look at (CI keeps the folder)
SHOTS = ROOT / "test-output"


def segue(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_report_of_a_replay_renders_in_chromium_without_errors(tmp_path: Path) -> None:
    events, outcomes, folder = tmp_path / "ev.jsonl", tmp_path / "out.jsonl", tmp_path / "rep"
    simulate = ["simulate", "--rate", "20", "--duration", "3600", "--seed", "5", "--quiet"]
    segue(*simulate, "--out", str(events))
    # the example policies with a global control group, so that every section has rows
    policies = tmp_path / "policies.yaml"
    policies.write_text((ROOT / "policies.yaml").read_text() + "global_control: {share: 0.1}\n")
    replay = ["replay", "--events", str(events), "--journeys", "journeys"]
    replay += ["--policies", str(policies), "--until", "2026-12-31T00:00:00Z"]
    segue(*replay, "--out", str(tmp_path / "actions.jsonl"), "--outcomes", str(outcomes))
    report = ["report", "--outcomes", str(outcomes), "--events", str(events)]
    printed = segue(*report, "--out", str(folder)).stdout
    assert "cart_recovery v3" in printed and "outcome records" in printed
    assert "(all promotional journeys) vs the global control group" in printed
    SHOTS.mkdir(exist_ok=True)
    shot = SHOTS / "report-page.png"
    page = render(
        (folder / "report.html").as_uri(), shot, selectors=("table", "svg", "svg rect", "h2")
    )
    assert page.errors == []
    assert page.title == "Segue journey report"
    assert "Conversion against the control group" in page.text
    assert "The whole programme against the global control group" in page.text
    assert "Funnel: entries reaching each step" in page.text
    assert "cart_recovery" in page.text and "onboarding" in page.text
    assert "Service and loyalty" in page.text and "CSAT (1-5)" in page.text
    assert "Retention and churn after 7 days, by entry cohort" in page.text
    assert page.counts["h2"] == 12 and page.counts["table"] >= 8
    assert page.counts["svg"] == 3 and page.counts["svg rect"] > 10
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page
    shutil.copy(shot, tmp_path / "report-page.png")
    print(f"screenshot: {shot}")
