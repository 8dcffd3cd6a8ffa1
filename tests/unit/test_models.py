"""Artifacts (loading, tampering, versions) and the stream scorer against scikit-learn.

A tiny training run on the first rows of each data set (3 folds) makes real artifacts in a temp
dir; the full training is `make models`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pytest

from app.core.features import churn_features, intent_features
from app.core.profile import new_profile
from app.core.scoring import Scorer
from app.models import datasets
from app.models.artifact import (
    ArtifactError,
    check_artifact,
    dump_json,
    installed_versions,
    load_models,
)
from app.models.scorer import CACHE_SIZE, ModelScorer, _sigmoid, load_scorer
from app.paths import MODELS_DIR, ROOT

SAMPLE = 600


def _train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("segue_train", ROOT / "models" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["segue_train"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return _train_module()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, train: ModuleType) -> Path:
    out = tmp_path_factory.mktemp("models")
    train.main(["--out", str(out), "--sample", str(SAMPLE), "--folds", "3"])
    return out


@pytest.fixture
def models_dir(trained: Path, tmp_path: Path) -> Path:
    """A private copy that a test may damage."""
    copy = tmp_path / "models"
    shutil.copytree(trained, copy)
    return copy


def _rewrite(models_dir: Path, name: str, change: Any, fix_manifest: bool = True) -> None:
    path = models_dir / f"{name}.json"
    doc = orjson.loads(path.read_bytes())
    change(doc)
    raw = dump_json(doc)
    path.write_bytes(raw)
    if fix_manifest:
        manifest = orjson.loads((models_dir / "manifest.json").read_bytes())
        manifest["models"][name]["sha256"] = hashlib.sha256(raw).hexdigest()
        (models_dir / "manifest.json").write_bytes(dump_json(manifest))


def test_training_writes_artifacts_cards_plots_and_manifest(trained: Path) -> None:
    for name in ("churn", "intent"):
        assert (trained / f"{name}.json").is_file()
        card = (trained / f"{name}.card.md").read_text()
        assert "ROC-AUC" in card and "Brier" in card and "scikit-learn" in card
        assert (trained / f"{name}.reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = orjson.loads((trained / "manifest.json").read_bytes())
    assert set(manifest["models"]) == {"churn", "intent"}


def test_training_is_reproducible(trained: Path, train: ModuleType, tmp_path: Path) -> None:
    churn = next(task for task in train.TASKS if task.name == "churn")
    train.train_task(churn, tmp_path, SAMPLE, 3)
    assert (tmp_path / "churn.json").read_bytes() == (trained / "churn.json").read_bytes()


def test_good_artifacts_load_and_score(models_dir: Path) -> None:
    scorer: Scorer = ModelScorer.load(models_dir)  # satisfies the core's protocol (mypy)
    assert isinstance(scorer.version, str)
    manifest = orjson.loads((models_dir / "manifest.json").read_bytes())
    assert manifest["models"]["churn"]["sha256"][:12] in scorer.version
    scores = scorer.score(new_profile("c"), 1_790_000_000_000)
    assert set(scores) == {"churn", "intent"}
    assert all(0.0 <= p <= 1.0 for p in scores.values())


def test_a_tampered_artifact_is_refused_with_its_hash(models_dir: Path) -> None:
    path = models_dir / "churn.json"
    path.write_bytes(path.read_bytes().replace(b'"intercept": ', b'"intercept": 1'))
    with pytest.raises(ArtifactError, match=r"SHA-256 .* altered"):
        ModelScorer.load(models_dir)


def test_a_library_version_mismatch_is_refused(models_dir: Path) -> None:
    with pytest.raises(ArtifactError, match=r"trained with scikit-learn .* but 0\.1 is installed"):
        ModelScorer.load(models_dir, installed={"scikit-learn": "0.1"})
    _rewrite(models_dir, "intent", lambda doc: doc["trained_with"].update({"scikit-learn": "9"}))
    with pytest.raises(ArtifactError, match="model 'intent': trained with scikit-learn 9"):
        ModelScorer.load(models_dir)


def test_a_feature_set_mismatch_is_refused(models_dir: Path) -> None:
    _rewrite(models_dir, "churn", lambda doc: doc.update({"feature_set": "churn-v0"}))
    with pytest.raises(ArtifactError, match="feature set 'churn-v0'"):
        ModelScorer.load(models_dir)


def test_a_missing_manifest_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="make models"):
        ModelScorer.load(tmp_path)


def test_a_missing_artifact_and_bad_values_are_refused(models_dir: Path) -> None:
    _rewrite(models_dir, "intent", lambda doc: doc["coef"].__setitem__(0, "x"))
    with pytest.raises(ArtifactError, match="not a finite number"):
        ModelScorer.load(models_dir)
    (models_dir / "churn.json").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_models(models_dir)


def test_a_decreasing_calibration_is_refused(models_dir: Path) -> None:
    _rewrite(models_dir, "churn", lambda doc: doc["calibration"].update({"slope": -1.0}))
    with pytest.raises(ArtifactError, match="not be increasing"):
        ModelScorer.load(models_dir)


def test_calibrated_probabilities_are_bounded_and_monotone() -> None:
    zs = [-1e6, -800.0, -30.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 30.0, 800.0, 1e6]
    ps = [_sigmoid(z) for z in zs]
    assert all(0.0 <= p <= 1.0 for p in ps)
    assert ps == sorted(ps)
    assert _sigmoid(0.0) == 0.5
    assert math.isclose(_sigmoid(2.0) + _sigmoid(-2.0), 1.0)


def test_exported_model_matches_sklearn_predict_proba(train: ModuleType) -> None:
    """Fit the training pipeline on a sample, export it, and score every row both ways."""
    for task in train.TASKS:
        rows = datasets.read_csv(train.DATA_DIR / task.data_file)[:SAMPLE]
        x, y = task.rows_to_xy(rows)
        model = train.build_model(7, 3).fit(x, y)
        doc = train.export(model, task, {"file": task.data_file})
        params = check_artifact(task.name, doc, installed_versions(), "f" * 64)
        mine = np.array([ModelScorer._predict(params, row.tolist()) for row in x])
        theirs = model.predict_proba(x)[:, 1]
        assert np.max(np.abs(mine - theirs)) < 1e-9
        assert mine.min() > 0.0 and mine.max() < 1.0


def test_scores_follow_the_profile_and_the_cache_is_exact(models_dir: Path) -> None:
    scorer = ModelScorer.load(models_dir)
    rows = datasets.read_csv(MODELS_DIR / "data" / "Telco-Customer-Churn.csv")[:50]
    profile = datasets.telco_profile(rows[0])
    first = scorer.score(profile, 0)["churn"]
    assert first == scorer.predict_uncached("churn", churn_features(profile))
    for row in rows[1:]:  # the same profile dict, mutated in place as the stream does
        profile["attributes"].clear()
        profile["attributes"].update(datasets.telco_profile(row)["attributes"])
        expected = scorer.predict_uncached("churn", churn_features(profile))
        assert scorer.score(profile, 0)["churn"] == expected
    profile["attributes"]["tenure"] = [1, 2]  # unhashable junk: scored, just not cached
    assert 0.0 <= scorer.score(profile, 0)["churn"] <= 1.0


def test_intent_cache_sees_every_session_change(models_dir: Path) -> None:
    scorer = ModelScorer.load(models_dir)
    rows = datasets.read_csv(MODELS_DIR / "data" / "online_shoppers_intention.csv")[:200]
    profile = new_profile("c")
    for row in rows:
        shopper, now = datasets.shoppers_profile(row)
        profile["session"] = shopper["session"]
        expected = scorer.predict_uncached("intent", intent_features(profile, now))
        assert scorer.score(profile, now)["intent"] == expected
        profile["session"]["value"] += 50.0  # in-place change, as fold_session makes
        expected = scorer.predict_uncached("intent", intent_features(profile, now))
        assert scorer.score(profile, now)["intent"] == expected
    assert len(scorer._intent_cache) <= CACHE_SIZE


def test_without_models_every_score_is_zero(trained: Path) -> None:
    assert load_scorer(None).score(new_profile("c"), 0) == {"churn": 0.0, "intent": 0.0}
    assert isinstance(load_scorer(trained), ModelScorer)


def test_the_shipped_artifacts_load_with_this_code() -> None:
    """models/ in the repository must match the feature code and the pinned scikit-learn."""
    scorer = ModelScorer.load(MODELS_DIR)
    assert scorer.version.startswith("churn-")


def test_models_folder_defaults_to_the_models_beside_the_journeys(tmp_path: Path) -> None:
    from app.models.scorer import models_folder

    project = tmp_path / "project"
    (project / "journeys").mkdir(parents=True)
    assert models_folder(None, project / "journeys") is None  # no models/ there
    (project / "models").mkdir()
    assert models_folder(None, project / "journeys") is None  # no manifest in it
    (project / "models" / "manifest.json").write_text("{}")
    assert models_folder(None, project / "journeys") == project.resolve() / "models"
    assert models_folder("none", project / "journeys") is None
    assert models_folder("OFF", project / "journeys") is None
    assert models_folder("/elsewhere", project / "journeys") == Path("/elsewhere")
