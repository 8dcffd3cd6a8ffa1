"""``ModelScorer``: calibrated churn and intent probabilities on the hot path, without sklearn.

Each model is a logistic regression whose scaler and Platt calibration were folded into one
weight vector at load (app/models/artifact.py), so a score is the feature function, one dot
product and one sigmoid in plain Python; a blend artifact adds a tree ensemble compiled to one
plain Python function at load (app/models/trees.py). Results are cached by the raw inputs the features read
(the churn attributes; the session's counters), which is exact: equal inputs, equal score. The
cache is bounded and simply cleared when full (cheap, and the working set is the active customers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.features import CHURN_CATEGORIES, churn_features, intent_features
from app.core.scoring import Scorer, ZeroScorer
from app.models.artifact import MANIFEST, ModelParams, load_models, sigmoid
from app.paths import MODELS_DIR

CACHE_SIZE = 65_536
_DAY_MS = 86_400_000
#: every attribute ``churn_features`` reads, in a fixed order: the churn cache key
CHURN_INPUTS = (
    "senior_citizen",
    *CHURN_CATEGORIES,
    "tenure",
    "monthly_charges",
    "total_charges",
)


_sigmoid = sigmoid  # the name the tests and benchmarks know


class ModelScorer:
    """The ``Scorer`` of app/core/scoring.py backed by the trained artifacts."""

    def __init__(self, churn: ModelParams, intent: ModelParams) -> None:
        self._churn = churn
        self._intent = intent
        self._churn_predict = churn.predict
        self._intent_predict = intent.predict
        #: stamped on actions: both artifacts' hash prefixes, so a decision names its models
        self.version = f"churn-{churn.sha256[:12]}+intent-{intent.sha256[:12]}"
        self._churn_cache: dict[tuple[Any, ...], float] = {}
        self._intent_cache: dict[tuple[Any, ...], float] = {}

    @classmethod
    def load(
        cls, models_dir: Path = MODELS_DIR, installed: Mapping[str, str] | None = None
    ) -> ModelScorer:
        """Load and check the artifacts; raises ``ArtifactError`` (at start) on any mismatch."""
        models = load_models(models_dir, installed)
        return cls(models["churn"], models["intent"])

    def churn(self, profile: Mapping[str, Any]) -> float:
        attrs = profile["attributes"]
        key = tuple(map(attrs.get, CHURN_INPUTS))
        cache = self._churn_cache
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable attribute value (a list): score without caching
            return self._churn_predict(churn_features(profile))  # type: ignore[arg-type]
        p = self._churn_predict(churn_features(profile))  # type: ignore[arg-type]
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[key] = p
        return p

    def intent(self, profile: Mapping[str, Any], now_ms: int) -> float:
        session = profile.get("session")
        if session is None:
            key: tuple[Any, ...] = (now_ms // _DAY_MS,)
        else:
            n = session["n"]
            dur = session["dur"]
            key = (
                session["start"] // _DAY_MS,
                session["visitor"],
                session["traffic"],
                session["pages"],
                n[0],
                n[1],
                n[2],
                dur[0],
                dur[1],
                dur[2],
                session["bounce"],
                session["exit"],
                session["value"],
            )
        cache = self._intent_cache
        p = cache.get(key)
        if p is None:
            p = self._intent_predict(intent_features(profile, now_ms))  # type: ignore[arg-type]
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[key] = p
        return p

    def score(self, profile: Mapping[str, Any], now_ms: int) -> dict[str, float]:
        return {"churn": self.churn(profile), "intent": self.intent(profile, now_ms)}

    @staticmethod
    def _predict(params: ModelParams, features: list[float]) -> float:
        return params.predict(features)

    def predict_uncached(self, name: str, features: list[float]) -> float:
        """The calibrated probability for a ready feature vector (tests and benchmarks)."""
        return self._predict(self._churn if name == "churn" else self._intent, features)


#: what ``--models`` / ``SEGUE_MODELS_DIR`` take to mean "no models: every score 0.0"
NO_MODELS = frozenset({"none", "off", ""})


def models_folder(choice: str | Path | None, journeys_dir: Path) -> Path | None:
    """The artifacts folder a deployment scores with: ``choice`` (``--models`` or
    ``SEGUE_MODELS_DIR``) when given, ``none`` meaning no models; else the project's own
    ``models/`` beside its journeys folder when it holds a manifest (the layout ``segue``
    ships: journeys/, policies.yaml, models/), so the worker and a replay of the same journeys
    score alike; else no models (the spec's "no model configured": every score 0.0)."""
    if choice is None:
        beside = journeys_dir.resolve().parent / "models"
        return beside if (beside / MANIFEST).is_file() else None
    text = str(choice).strip()
    return None if text.lower() in NO_MODELS else Path(text)


def load_scorer(models_dir: Path | None) -> Scorer:
    """The scorer for a deployment: ``ZeroScorer`` when no models dir is configured (every
    score 0.0), else the checked artifacts (``ArtifactError`` at start if bad)."""
    return ZeroScorer() if models_dir is None else ModelScorer.load(models_dir)


def served(scorer: Scorer, models_dir: Path | None) -> str:
    """One line naming the models a process scores with, for its start-up log."""
    if models_dir is None:
        return "models: none (every score 0.0; --models DIR or SEGUE_MODELS_DIR to score)"
    return f"models: {scorer.version} from {models_dir}"
