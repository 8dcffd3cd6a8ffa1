"""Packaging (issue 17), the parts that need no wheel: where the data is found, and scoring
without scikit-learn. The built wheel itself: tests/integration/test_wheel.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from app import paths
from app.models import artifact
from app.models.artifact import NOT_INSTALLED, ArtifactError, load_models
from app.paths import MODELS_DIR, ROOT


def _project(folder: Path) -> Path:
    (folder / "topics").mkdir(parents=True)
    (folder / "topics" / "topics.yaml").write_text("topics: []\n", encoding="utf-8")
    return folder


def test_root_is_segue_home_then_the_checkout_then_the_packaged_copy_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "app"
    package.mkdir(parents=True)
    packaged = package / "_data"
    monkeypatch.setattr(paths, "_PACKAGE", package)
    monkeypatch.setattr(paths, "PACKAGED_DATA", packaged)
    monkeypatch.delenv("SEGUE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths._root() == tmp_path  # neither: the working directory
    (tmp_path / "site" / "topics").mkdir()  # a stray topics/ in site-packages is no checkout
    assert paths._root() == tmp_path
    _project(packaged)  # an installed wheel
    assert paths._root() == packaged
    (tmp_path / "site" / "topics" / "topics.yaml").write_text("topics: []\n", encoding="utf-8")
    assert paths._root() == tmp_path / "site"  # the checkout beside the package wins
    monkeypatch.setenv("SEGUE_HOME", str(tmp_path / "home"))
    assert paths._root() == tmp_path / "home"  # and SEGUE_HOME over everything


def test_the_checkout_reads_its_own_folders() -> None:
    assert Path(__file__).resolve().parents[2] == ROOT
    assert paths.TEMPLATES_DIR == ROOT / "templates"
    assert paths.POLICIES_FILE.is_file()


def test_training_pins_come_from_the_train_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    requires = [
        "scipy==1.17.1",
        'scikit-learn==1.9.1; extra == "train"',
        'matplotlib==3.11.2; extra == "bench"',
        "Some_Lib == 2.0 ; extra == 'train'",
    ]
    monkeypatch.setattr(artifact.metadata, "requires", lambda name: requires)
    artifact.training_pins.cache_clear()
    try:
        assert artifact.training_pins() == {"scikit-learn": "1.9.1", "some-lib": "2.0"}
    finally:
        artifact.training_pins.cache_clear()


def test_without_sklearn_the_artifacts_must_match_the_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = orjson.loads((MODELS_DIR / "churn.json").read_bytes())["trained_with"]
    pins = {"scikit-learn": trained["scikit-learn"]}
    monkeypatch.setattr(artifact, "training_pins", lambda: pins)
    without = {"scikit-learn": NOT_INSTALLED}
    assert set(load_models(MODELS_DIR, without)) == {"churn", "intent"}
    pins["scikit-learn"] = "0.1"
    with pytest.raises(ArtifactError, match=r"trains with scikit-learn 0\.1 \(segue\[train\]\)"):
        load_models(MODELS_DIR, without)


def test_scoring_imports_no_training_library() -> None:
    """The scorer loads and scores with sklearn, scipy and matplotlib unimportable."""
    code = (
        "import sys\n"
        "for m in ('sklearn', 'scipy', 'matplotlib'): sys.modules[m] = None\n"
        "from app.core.profile import new_profile\n"
        "from app.models.scorer import ModelScorer\n"
        "from app.paths import MODELS_DIR\n"
        "print(ModelScorer.load(MODELS_DIR).score(new_profile('c'), 1_790_000_000_000))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "churn" in done.stdout
