"""Where the project's declarative files live (topics/, journeys/, models/)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPICS_DIR = ROOT / "topics"
SCHEMAS_DIR = TOPICS_DIR / "schemas"
JOURNEYS_DIR = ROOT / "journeys"
MODELS_DIR = ROOT / "models"
