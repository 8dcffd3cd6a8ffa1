"""Where the project's declarative files live (topics/, journeys/, models/).

A source checkout (editable install) finds them beside the package. An installed package (e.g.
the Docker image) finds them in ``SEGUE_HOME`` or, failing that, the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def _root() -> Path:
    if home := os.environ.get("SEGUE_HOME"):
        return Path(home).resolve()
    beside_package = Path(__file__).resolve().parent.parent
    if (beside_package / "topics").is_dir():
        return beside_package
    return Path.cwd()


ROOT = _root()
TOPICS_DIR = ROOT / "topics"
SCHEMAS_DIR = TOPICS_DIR / "schemas"
JOURNEYS_DIR = ROOT / "journeys"
MODELS_DIR = ROOT / "models"
