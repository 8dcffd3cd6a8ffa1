"""Model artifacts as plain JSON parameters: written by training, checked and loaded at start.

No pickle: an artifact is data, never code. ``models/manifest.json`` names each model's file and
its SHA-256; each artifact records its feature set, feature names and the library versions it was
trained with. :func:`load_models` checks all of that and raises :class:`ArtifactError` with what
to do, so a bad deployment fails at start, not at the first event.

Artifact (``segue-logistic``, format_version 1)::

    {"format": "segue-logistic", "format_version": 1, "name": "churn",
     "feature_set": "churn-v1", "features": [...names...],
     "scaler": {"mean": [...], "scale": [...]},      # StandardScaler
     "coef": [...], "intercept": z0,                  # LogisticRegression on scaled features
     "calibration": {"method": "sigmoid", "slope": a, "offset": b},   # Platt, a > 0
     "trained_with": {"scikit-learn": "1.9.1", "numpy": ..., "python": ...},
     "data": {"file": ..., "sha256": ..., "rows": n, "positives": k}, "target": ...}

The probability is ``1 / (1 + exp(-(a * z + b)))`` with ``z = z0 + sum(coef * (x - mean) / scale)``.

Blend (``segue-blend``, format_version 1): every key of ``segue-logistic`` (the logistic part, as
above) plus::

     "trees": {"base": ..., "roots": [...], "feature": [...], "threshold": [...],
               "left": [...], "right": [...], "value": [...]},     # app/models/trees.py
     "gbm": {"max_depth": d, "learning_rate": r, "min_samples_leaf": m, "n_trees": t},
     "blend": {"lr_weight": w}                                      # 0 <= w <= 1

The probability is ``w * p_logistic + (1 - w) / (1 + exp(-raw))``, ``raw`` the trees' log-odds
(HistGradientBoostingClassifier's ``predict_proba``), compiled to plain Python at load.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from operator import mul
from pathlib import Path
from typing import Any

import orjson

from app.core.features import (
    CHURN_FEATURE_SET,
    CHURN_FEATURES,
    INTENT_FEATURE_SET,
    INTENT_FEATURES,
)
from app.models.trees import TreeError, check_trees, compile_trees

FORMAT = "segue-logistic"
FORMAT_VERSION = 1
BLEND_FORMAT = "segue-blend"
BLEND_FORMAT_VERSION = 1
#: every artifact format this code reads, with its version
FORMATS = {FORMAT: FORMAT_VERSION, BLEND_FORMAT: BLEND_FORMAT_VERSION}
MANIFEST = "manifest.json"
#: the feature set (name and feature order) each model must have been trained on
EXPECTED_FEATURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "churn": (CHURN_FEATURE_SET, CHURN_FEATURES),
    "intent": (INTENT_FEATURE_SET, INTENT_FEATURES),
}
#: libraries whose version must match the training run exactly
CHECKED_LIBRARIES = ("scikit-learn",)
#: what :func:`installed_versions` reports for a checked library that is absent
NOT_INSTALLED = "not installed"
#: the distribution whose ``train`` extra pins the checked libraries (pyproject.toml)
DISTRIBUTION = "segue"


class ArtifactError(RuntimeError):
    """A model artifact is missing, altered or incompatible: retrain with `make models`."""


def sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # no overflow for very negative z
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class LogisticParams:
    """One model folded for scoring: ``p = 1 / (1 + exp(-(bias + sum(weights * x))))``."""

    name: str
    sha256: str
    weights: tuple[float, ...]
    bias: float

    def predict(self, features: list[float]) -> float:
        return sigmoid(self.bias + sum(map(mul, self.weights, features)))


@dataclass(frozen=True, slots=True)
class BlendParams:
    """Logistic model and tree ensemble averaged: ``w * p_logistic + (1 - w) * p_trees``."""

    name: str
    sha256: str
    logistic: LogisticParams
    raw: Callable[[list[float]], float]  # the trees' log-odds, compiled (app/models/trees.py)
    lr_weight: float

    def predict(self, features: list[float]) -> float:
        w = self.lr_weight
        logistic = self.logistic
        p_lr = sigmoid(logistic.bias + sum(map(mul, logistic.weights, features)))
        return w * p_lr + (1.0 - w) * sigmoid(self.raw(features))


#: what a loaded model is: both have ``name``, ``sha256`` and ``predict(features) -> p``
ModelParams = LogisticParams | BlendParams


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_versions() -> dict[str, str]:
    """Versions of the checked libraries in this environment (without importing them), or
    ``NOT_INSTALLED``: scikit-learn is the ``train`` extra's, which an install that only scores
    does not have (scoring never imports it)."""
    found = {}
    for name in CHECKED_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = NOT_INSTALLED
    return found


@cache
def training_pins() -> dict[str, str]:
    """The exact versions the ``train`` extra pins (``name==version``), from the installed
    distribution's metadata; empty when Segue is not installed (e.g. run from a bare tree)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        # e.g. 'scikit-learn==1.9.1; extra == "train"' (names as written in pyproject.toml)
        found = re.match(r"\s*([A-Za-z0-9._-]+)\s*==\s*([^\s;,]+)\s*;(.*)$", requirement)
        if found and re.search(r"extra\s*==\s*['\"]train['\"]", found.group(3)):
            pins[re.sub(r"[-_.]+", "-", found.group(1)).lower()] = found.group(2)
    return pins


def dump_json(obj: Any) -> bytes:
    """The artifact encoding: sorted keys, indented, so equal models give equal bytes."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _finite_list(value: Any, length: int, what: str) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        raise ArtifactError(f"{what}: expected a list of {length} numbers")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ArtifactError(f"{what}: {item!r} is not a finite number")
    return [float(item) for item in value]


def _finite(value: Any, what: str) -> float:
    return _finite_list([value], 1, what)[0]


def check_artifact(
    name: str, doc: Any, installed: Mapping[str, str], expected_sha: str
) -> ModelParams:
    """Validate one decoded artifact and fold scaler and calibration into plain weights (and,
    for a blend, compile its trees)."""
    where = f"model {name!r}"
    if not isinstance(doc, dict):
        raise ArtifactError(f"{where}: artifact is not a JSON object")
    form = doc.get("format")
    if not isinstance(form, str) or FORMATS.get(form) != doc.get("format_version"):
        known = " or ".join(f"{f!r} v{v}" for f, v in FORMATS.items())
        raise ArtifactError(
            f"{where}: format {form!r} v{doc.get('format_version')!r}, this Segue "
            f"reads {known}; retrain with `make models`"
        )
    feature_set, names = EXPECTED_FEATURES[name]
    if doc.get("feature_set") != feature_set or tuple(doc.get("features") or ()) != names:
        raise ArtifactError(
            f"{where}: trained on feature set {doc.get('feature_set')!r}, this code computes "
            f"{feature_set!r} (or the feature names differ); retrain with `make models`"
        )
    trained = doc.get("trained_with")
    if not isinstance(trained, dict):
        raise ArtifactError(f"{where}: no 'trained_with' library versions recorded")
    for library in CHECKED_LIBRARIES:
        if installed.get(library) == NOT_INSTALLED:
            # An install without the train extra scores only: the artifact must come from the
            # toolchain this release pins for training (the same guarantee as with it installed).
            pinned = training_pins().get(library)
            if trained.get(library) != pinned:
                raise ArtifactError(
                    f"{where}: trained with {library} {trained.get(library)}, but this Segue "
                    f"trains with {library} {pinned} (segue[train]); retrain with `make models`"
                )
            continue
        if trained.get(library) != installed.get(library):
            raise ArtifactError(
                f"{where}: trained with {library} {trained.get(library)}, but "
                f"{installed.get(library)} is installed; install the pinned version "
                f"(`make install`) or retrain with `make models`"
            )
    size = len(names)
    scaler = doc.get("scaler") or {}
    mean = _finite_list(scaler.get("mean"), size, f"{where}: scaler.mean")
    scale = _finite_list(scaler.get("scale"), size, f"{where}: scaler.scale")
    if any(s <= 0.0 for s in scale):
        raise ArtifactError(f"{where}: scaler.scale must be positive")
    coef = _finite_list(doc.get("coef"), size, f"{where}: coef")
    intercept = _finite(doc.get("intercept"), f"{where}: intercept")
    calibration = doc.get("calibration") or {}
    if calibration.get("method") != "sigmoid":
        raise ArtifactError(f"{where}: unknown calibration {calibration.get('method')!r}")
    slope = _finite(calibration.get("slope"), f"{where}: calibration.slope")
    offset = _finite(calibration.get("offset"), f"{where}: calibration.offset")
    if slope <= 0.0:
        raise ArtifactError(f"{where}: calibration slope {slope} would not be increasing")
    # Fold everything into one affine map so that scoring is a dot product and a sigmoid.
    weights = tuple(slope * c / s for c, s in zip(coef, scale, strict=True))
    bias = slope * (intercept - sum(c * m / s for c, m, s in zip(coef, mean, scale, strict=True)))
    logistic = LogisticParams(name, expected_sha, weights, bias + offset)
    if form == FORMAT:
        return logistic
    blend = doc.get("blend")
    if not isinstance(blend, dict):
        raise ArtifactError(f"{where}: blend must be an object with lr_weight")
    weight = _finite(blend.get("lr_weight"), f"{where}: blend.lr_weight")
    if not 0.0 <= weight <= 1.0:
        raise ArtifactError(f"{where}: blend.lr_weight {weight} is not in [0, 1]")
    try:
        trees = check_trees(doc.get("trees"), size)
    except TreeError as exc:
        raise ArtifactError(f"{where}: {exc}") from None
    return BlendParams(name, expected_sha, logistic, compile_trees(trees), weight)


def load_models(
    models_dir: Path, installed: Mapping[str, str] | None = None
) -> dict[str, ModelParams]:
    """Load and check every model the manifest lists; raise :class:`ArtifactError` on any doubt."""
    installed = installed_versions() if installed is None else installed
    manifest_path = models_dir / MANIFEST
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(
            f"no model manifest at {manifest_path}; run `make models` to train the models"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"{manifest_path}: not valid JSON ({exc})") from None
    entries = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(entries, dict) or set(entries) != set(EXPECTED_FEATURES):
        raise ArtifactError(f"{manifest_path}: must list the models {sorted(EXPECTED_FEATURES)}")
    loaded = {}
    for name, entry in sorted(entries.items()):
        file_name = entry.get("file") if isinstance(entry, dict) else None
        expected_sha = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(file_name, str) or "/" in file_name or "\\" in file_name:
            raise ArtifactError(f"{manifest_path}: model {name!r} needs a plain 'file' name")
        path = models_dir / file_name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"model {name!r}: artifact {path} is missing") from None
        actual_sha = hashlib.sha256(raw).hexdigest()
        if actual_sha != expected_sha:
            raise ArtifactError(
                f"model {name!r}: {path} has SHA-256 {actual_sha}, the manifest says "
                f"{expected_sha}; the artifact was altered or replaced, retrain with `make models`"
            )
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ArtifactError(f"model {name!r}: {path} is not valid JSON ({exc})") from None
        loaded[name] = check_artifact(name, doc, installed, actual_sha)
    return loaded
