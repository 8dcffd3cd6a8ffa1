"""What one score costs on the hot path, next to scikit-learn's single-row predict_proba.

Usage (from the repository root, after `make models`):
    .venv/bin/python bench/score_cost.py [--rows N] [--repeat R]

Profiles are built from the real data sets (a Telco customer with a shopping session each).
Reported per score (one probability), best of R passes over N distinct profiles:
  features     the feature function alone
  cold         ModelScorer on a cache miss: cache key, features, dot product, sigmoid
  warm         ModelScorer on a cache hit (same inputs as before)
  sklearn      the trained calibrated pipeline, predict_proba on one row (the features ready)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from app.core.features import churn_features, intent_features  # noqa: E402
from app.models import datasets  # noqa: E402
from app.models.scorer import ModelScorer  # noqa: E402
from app.paths import MODELS_DIR  # noqa: E402


def _train_module() -> Any:
    spec = importlib.util.spec_from_file_location("segue_train", ROOT / "models" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["segue_train"] = module
    spec.loader.exec_module(module)
    return module


def best_ns(run: Callable[[], None], count: int, repeat: int) -> float:
    """Nanoseconds per item: the best of ``repeat`` timed passes over ``count`` items."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - started) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    telco = datasets.read_csv(MODELS_DIR / "data" / "Telco-Customer-Churn.csv")[: args.rows]
    shoppers = datasets.read_csv(MODELS_DIR / "data" / "online_shoppers_intention.csv")
    profiles = []
    for row, shopper_row in zip(telco, shoppers, strict=False):
        profile = datasets.telco_profile(row)
        shopper, now = datasets.shoppers_profile(shopper_row)
        profile["session"] = shopper["session"]
        profiles.append((profile, now))
    n = len(profiles)
    scorer = ModelScorer.load(MODELS_DIR)

    def features() -> None:
        for profile, now in profiles:
            churn_features(profile)
            intent_features(profile, now)

    def cold() -> None:
        scorer._churn_cache.clear()
        scorer._intent_cache.clear()
        for profile, now in profiles:
            scorer.score(profile, now)

    def warm() -> None:
        for profile, now in profiles:
            scorer.score(profile, now)

    print(f"{n} profiles, best of {args.repeat} passes; per score (one probability):")
    per_score = {}
    for name, run in (("features", features), ("cold", cold), ("warm", warm)):
        per_score[name] = best_ns(run, 2 * n, args.repeat) / 1000
        print(f"  {name:<9} {per_score[name]:7.2f} us")

    print("fitting the calibrated sklearn pipelines for comparison (as models/train.py) ...")
    train = _train_module()
    sk_costs = []
    for task, extract in zip(
        train.TASKS,
        (churn_features, lambda p: intent_features(p, 0)),
        strict=True,
    ):
        rows = datasets.read_csv(train.DATA_DIR / task.data_file)
        x, y = task.rows_to_xy(rows)
        model = train.build_model(train.SEED, 5).fit(x, y)
        singles = [np.asarray([extract(profile)], dtype=np.float64) for profile, _ in profiles]
        count = min(len(singles), 500)

        def sk(model: Any = model, singles: list[Any] = singles, count: int = count) -> None:
            for row in singles[:count]:
                model.predict_proba(row)

        sk_costs.append(best_ns(sk, count, args.repeat) / 1000)
        print(f"  sklearn {task.name:<7} {sk_costs[-1]:8.1f} us per predict_proba(1 row)")
    sklearn = sum(sk_costs) / len(sk_costs)
    print(
        f"ratio sklearn / ModelScorer: {sklearn / per_score['cold']:.0f}x on a cache miss, "
        f"{sklearn / per_score['warm']:.0f}x on a hit"
    )


if __name__ == "__main__":
    main()
