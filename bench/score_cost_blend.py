"""Per-score cost of the intent blend (logistic + compiled trees) next to the logistic model alone.

Usage (from the repository root):
    .venv/bin/python bench/score_cost_blend.py [--models DIR] [--rows N] [--rounds R]

Same profiles as bench/score_cost.py (a Telco customer with a shopping session each, N of them).
CPU time (``time.process_time_ns``: the machine is shared, wall time counts other processes), R
rounds; in each round every path runs once over the N profiles, in turn, so that noise hits all
paths alike. Reported per score (one probability, cache miss): median and best over the rounds,
and the ratio of medians to the logistic model. The goal is < 10 us per score on a cache miss.

When the artifact in DIR (default: the shipped models/) is not a blend, a blend of the shape the
issue-18 experiment chose (``--trees``, ``--depth``) is fitted on the data for the timing only.
``--baseline DIR2`` also times a ModelScorer on other artifacts (e.g. the logistic ones of the
previous release) in the same rounds, for a direct ratio of the whole cache-miss path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.features import churn_features, intent_features  # noqa: E402
from app.models import datasets  # noqa: E402
from app.models.artifact import BlendParams, LogisticParams  # noqa: E402
from app.models.scorer import ModelScorer  # noqa: E402
from app.models.trees import check_trees, compile_trees, export_hgb  # noqa: E402
from app.paths import MODELS_DIR  # noqa: E402


def fitted_blend(logistic: LogisticParams, trees: int, depth: int) -> BlendParams:
    """A blend of the given shape on the intent data (timing only: its weight is 0.25)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("segue_train", ROOT / "models" / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    sys.modules["segue_train"] = train
    spec.loader.exec_module(train)
    task = next(t for t in train.TASKS if t.name == "intent")
    x, y = task.rows_to_xy(datasets.read_csv(train.DATA_DIR / task.data_file))
    model = train.build_trees(depth, 0.1, 20, trees, train.SEED).fit(x, y)
    checked = check_trees(export_hgb(model), x.shape[1])
    return BlendParams("intent", logistic.sha256, logistic, compile_trees(checked), 0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=MODELS_DIR)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--trees", type=int, default=25)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="another models dir to time alongside")
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
    scorer = ModelScorer.load(args.models)
    intent = scorer._intent
    if isinstance(intent, BlendParams):
        blend, logistic, source = intent, intent.logistic, f"shipped blend from {args.models}"
    else:
        logistic = intent
        blend = fitted_blend(logistic, args.trees, args.depth)
        source = f"logistic shipped; blend of {args.trees} trees x depth {args.depth} fitted here"
    vectors = [intent_features(profile, now) for profile, now in profiles]
    lr_predict, blend_predict, raw = logistic.predict, blend.predict, blend.raw

    def features() -> None:
        for profile, now in profiles:
            intent_features(profile, now)

    def lr_cold() -> None:
        for profile, now in profiles:
            lr_predict(intent_features(profile, now))

    def blend_cold() -> None:
        for profile, now in profiles:
            blend_predict(intent_features(profile, now))

    def trees_only() -> None:
        for x in vectors:
            raw(x)

    def churn_cold() -> None:
        predict = scorer._churn.predict
        for profile, _ in profiles:
            predict(churn_features(profile))

    def scorer_cold() -> None:  # bench/score_cost.py's "cold": both models, per probability
        scorer._churn_cache.clear()
        scorer._intent_cache.clear()
        for profile, now in profiles:
            scorer.score(profile, now)

    baseline = ModelScorer.load(args.baseline) if args.baseline else None

    def baseline_cold() -> None:
        assert baseline is not None
        baseline._churn_cache.clear()
        baseline._intent_cache.clear()
        for profile, now in profiles:
            baseline.score(profile, now)

    paths: dict[str, tuple[Callable[[], None], int]] = {
        "intent features alone": (features, n),
        "intent trees alone (compiled)": (trees_only, n),
        "intent logistic, cache miss": (lr_cold, n),
        "intent blend, cache miss": (blend_cold, n),
        "churn, cache miss": (churn_cold, n),
        "ModelScorer.score, cache miss": (scorer_cold, 2 * n),
    }
    if baseline is not None:
        paths["baseline ModelScorer.score, miss"] = (baseline_cold, 2 * n)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, (run, count) in paths.items():
            started = time.process_time_ns()
            run()
            samples[name].append((time.process_time_ns() - started) / count / 1000)
    print(f"{source}" + (f"; baseline: {args.baseline}" if baseline else ""))
    print(f"{n} profiles, {args.rounds} rounds, CPU time per score (one probability):")
    base = statistics.median(samples["intent logistic, cache miss"])
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"  {name:<31} median {median:6.2f} us  best {min(values):6.2f} us  "
            f"x{median / base:4.2f} of the logistic"
        )


if __name__ == "__main__":
    main()
