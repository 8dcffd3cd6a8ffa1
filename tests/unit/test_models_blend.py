"""The blend artifact (logistic + gradient-boosted trees): export, checks, compiled scoring.

Small fits on the first rows of the intent data set; the full training is `make models`.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import tokenize
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pytest

from app.core.features import intent_features
from app.models import datasets
from app.models.artifact import (
    BLEND_FORMAT,
    ArtifactError,
    BlendParams,
    LogisticParams,
    check_artifact,
    dump_json,
    installed_versions,
    load_models,
)
from app.models.scorer import ModelScorer
from app.models.trees import (
    TreeError,
    check_trees,
    compile_trees,
    export_hgb,
    tree_source,
    walk_trees,
)
from app.paths import ROOT
from tests.unit.test_models import _train_module

SAMPLE = 600


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return _train_module()  # models/train.py, loaded as test_models.py loads it


@pytest.fixture(scope="module")
def intent_xy(train: ModuleType) -> tuple[Any, np.ndarray, np.ndarray]:
    task = next(t for t in train.TASKS if t.name == "intent")
    x, y = task.rows_to_xy(datasets.read_csv(train.DATA_DIR / task.data_file)[:SAMPLE])
    return task, x, y


@pytest.fixture(scope="module")
def blend(train: ModuleType, intent_xy: tuple[Any, np.ndarray, np.ndarray]) -> Any:
    _, x, y = intent_xy
    return train.BudgetBlend(7, 3).fit(x, y)


@pytest.fixture(scope="module")
def blend_doc(train: ModuleType, intent_xy: tuple[Any, np.ndarray, np.ndarray], blend: Any) -> Any:
    task = intent_xy[0]
    return train.export(blend, task, {"file": task.data_file})


def test_compiled_trees_match_the_walk_and_sklearn(
    train: ModuleType, intent_xy: tuple[Any, np.ndarray, np.ndarray]
) -> None:
    _, x, y = intent_xy
    model = train.build_trees(3, 0.1, 20, 30, 1).fit(x, y)
    trees = check_trees(export_hgb(model), x.shape[1])
    raw = compile_trees(trees)
    theirs = model._raw_predict(x).ravel()
    rows = [row.tolist() for row in x]
    walked = np.array([walk_trees(trees, row) for row in rows])
    compiled = np.array([raw(row) for row in rows])
    assert np.max(np.abs(walked - theirs)) < 1e-12
    assert np.max(np.abs(compiled - theirs)) < 1e-12
    assert all(isinstance(v, float) for v in compiled)


def test_the_blend_is_chosen_within_the_budget_and_exports_exactly(
    train: ModuleType, intent_xy: tuple[Any, np.ndarray, np.ndarray], blend: Any, blend_doc: Any
) -> None:
    _, x, _ = intent_xy
    assert blend.n_trees_ * blend.depth_ <= train.TREE_LEVELS
    assert blend.weight_ in train.BLEND_WEIGHTS
    assert blend_doc["format"] == BLEND_FORMAT
    params = check_artifact("intent", blend_doc, installed_versions(), "e" * 64)
    assert isinstance(params, BlendParams) and isinstance(params.logistic, LogisticParams)
    mine = np.array([ModelScorer._predict(params, row.tolist()) for row in x])
    theirs = blend.predict_proba(x)[:, 1]
    assert np.max(np.abs(mine - theirs)) < 1e-9
    assert mine.min() > 0.0 and mine.max() < 1.0


def _broken(doc: Any, change: Any) -> Any:
    copy = orjson.loads(orjson.dumps(doc))
    change(copy)
    return copy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["trees"]["threshold"].__setitem__(0, "__import__('os')"), "not a finite"),
        (lambda d: d["trees"]["threshold"].__setitem__(0, math.inf), "not a finite"),
        (lambda d: d["trees"]["feature"].__setitem__(0, 10_000), "unknown feature"),
        (lambda d: d["trees"]["left"].__setitem__(0, 0), "reached twice"),  # a cycle
        (lambda d: d["trees"]["right"].__setitem__(0, 10**9), "out of range"),
        (lambda d: d["trees"].update({"roots": []}), "no trees"),
        (lambda d: d["trees"]["value"].pop(), "expected a list"),
        (lambda d: d.pop("trees"), "not a JSON object"),
        (lambda d: d["blend"].update({"lr_weight": 1.5}), r"not in \[0, 1\]"),
        (lambda d: d.update({"format_version": 2}), "this Segue reads"),
        (lambda d: d.update({"format": "segue-pickle"}), "this Segue reads"),
    ],
)
def test_a_bad_blend_is_refused(blend_doc: Any, change: Any, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        check_artifact("intent", _broken(blend_doc, change), installed_versions(), "e" * 64)


def test_the_compiled_source_holds_only_numbers(blend_doc: Any) -> None:
    trees = check_trees(blend_doc["trees"], len(blend_doc["features"]))
    tokens = tokenize.generate_tokens(io.StringIO(tree_source(trees)).readline)
    names = {t.string for t in tokens if t.type == tokenize.NAME}
    assert {n for n in names if not re.fullmatch(r"x\d*", n)} == {
        "def",
        "raw",
        "s",
        "if",
        "else",
        "return",
    }
    kinds = {t.type for t in tokenize.generate_tokens(io.StringIO(tree_source(trees)).readline)}
    assert tokenize.STRING not in kinds


def test_a_blend_loads_from_a_manifest_and_scores(blend_doc: Any, tmp_path: Path) -> None:
    shipped = ROOT / "models"
    raw = dump_json(blend_doc)
    (tmp_path / "intent.json").write_bytes(raw)
    (tmp_path / "churn.json").write_bytes((shipped / "churn.json").read_bytes())
    manifest = orjson.loads((shipped / "manifest.json").read_bytes())
    manifest["models"]["intent"]["sha256"] = hashlib.sha256(raw).hexdigest()
    (tmp_path / "manifest.json").write_bytes(dump_json(manifest))
    models = load_models(tmp_path)
    assert isinstance(models["intent"], BlendParams)
    scorer = ModelScorer.load(tmp_path)
    shopper, now = datasets.shoppers_profile(
        datasets.read_csv(ROOT / "models" / "data" / "online_shoppers_intention.csv")[0]
    )
    p = scorer.score(shopper, now)["intent"]
    assert 0.0 < p < 1.0
    assert p == models["intent"].predict(intent_features(shopper, now))


def test_check_trees_bounds_depth() -> None:
    depth = 20  # a chain: every right child splits again
    feature = [0] * depth + [-1] * (depth + 1)
    left = [depth + i for i in range(depth)] + [-1] * (depth + 1)
    right = [i + 1 for i in range(depth - 1)] + [2 * depth] + [-1] * (depth + 1)
    doc = {
        "base": 0.0,
        "roots": [0],
        "feature": feature,
        "threshold": [0.5] * len(feature),
        "left": left,
        "right": right,
        "value": [0.1] * len(feature),
    }
    with pytest.raises(TreeError, match="deeper than"):
        check_trees(doc, 3)
