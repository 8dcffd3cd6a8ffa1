"""`segue replay --models DIR`: scores from the trained models (spec: "scores.churn,
scores.intent from the models, computed from the profile as it is at that moment, live and in
replay alike; where no model is configured every score is 0.0")."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.models.scorer import load_scorer
from app.paths import MODELS_DIR
from tests.unit.conformance.harness import event, ok, replay, ts

CHURN_RISK = {  # a month-to-month fibre customer with a short tenure: a high churn score
    "gender": "Female",
    "senior_citizen": 1,
    "partner": "No",
    "dependents": "No",
    "tenure": 1,
    "phone_service": "Yes",
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "No",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "Yes",
    "streaming_movies": "Yes",
    "contract": "Month-to-month",
    "paperless_billing": "Yes",
    "payment_method": "Electronic check",
    "monthly_charges": 95.0,
    "total_charges": 95.0,
}

DECIDE = """\
id: j
version: 1
trigger: {event: Go}
steps:
  - id: nba
    decide:
      propensity: churn
      options:
        - {id: small, value: 1, channel: email, template: small}
        - {id: big, value: 2, channel: agent, template: big}
"""


def test_without_models_every_score_is_zero(tmp_path: Path) -> None:
    """ "where no model is configured every score is 0.0": the decide ties, the first wins."""
    run = ok(
        replay(
            tmp_path,
            [DECIDE],
            [
                event("e0", "ProfileUpdated", ts("09:00"), **CHURN_RISK),
                event("e1", "Go", ts("10:00")),
            ],
        )
    )
    assert [(a["template"], a["scores"], a["model_version"]) for a in run.actions] == [
        ("small", {"churn": 0.0, "intent": 0.0}, "none")
    ]


def test_models_score_the_profile_and_version_the_actions(tmp_path: Path) -> None:
    """ "scores.churn, scores.intent from the models, computed from the profile as it is at that
    moment": with --models the decide uses the churn score and the action names the models."""
    models = tmp_path / "models"
    shutil.copytree(
        MODELS_DIR, models, ignore=shutil.ignore_patterns("data", "*.png", "*.md", "*.py")
    )
    scorer = load_scorer(models)
    run = ok(
        replay(
            tmp_path,
            [DECIDE],
            [
                event("e0", "ProfileUpdated", ts("09:00"), **CHURN_RISK),
                event("e1", "Go", ts("10:00")),
            ],
            extra=("--models", str(models)),
        )
    )
    [action] = run.actions
    assert action["template"] == "big"
    assert action["model_version"] == scorer.version != "none"
    assert 0.0 < action["scores"]["churn"] < 1.0
    assert 0.0 <= action["scores"]["intent"] < 1.0


def test_a_broken_models_dir_exits_2(tmp_path: Path) -> None:
    """Invalid inputs exit 2 with a message (as for journeys and policies)."""
    empty = tmp_path / "nothing"
    empty.mkdir()
    run = replay(
        tmp_path, [DECIDE], [event("e1", "Go", ts("10:00"))], extra=("--models", str(empty))
    )
    assert run.code == 2
    assert "--models" in run.stderr and "manifest" in run.stderr
