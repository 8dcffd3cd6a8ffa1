"""Experiment (issue 18): can gradient-boosted trees, or a blend with the shipped logistic model,
reach the churn / intent goals (CV ROC-AUC 0.85 / 0.935) on the SAME features and CV protocol?

Training-time only (scikit-learn allowed); nothing here is shipped. Protocol, identical to
models/train.py: the features of app/core/features.py built through app/models/datasets.py, the
outer stratified 5-fold CV with seed ``train.SEED`` (the very same test folds), mean +/- std of
the per-fold ROC-AUC. Compared on those folds:

  lr        the shipped pipeline, ``train.build_model`` (scaler, LR with C by inner CV, Platt)
  gbm       HistGradientBoostingClassifier; depth, learning rate, min leaf size and number of
            trees chosen by NESTED CV: an inner stratified 5-fold CV on the outer training fold
            only, over a fixed small grid (number of trees read from staged predictions). The
            outer test fold is never seen by the choice.
  gbm<=B    the same, the grid restricted to ensembles of at most B tree levels in total
            (trees x depth), a proxy for the per-score cost of a tree walk
  blend     w * p_lr + (1 - w) * p_gbm (probabilities), GBM config, trees and w in {0.25, 0.5,
            0.75} chosen jointly by the same inner CV (the inner LR is ``train.build_model`` too)
  blend<=B  the blend with the restricted grid

Feature variants (also nested where something is chosen) are selected with ``--variants``:
column subsets of the shipped vector for the trees (computable from the profile as the vector
is), extra transforms for the LR, reported separately.

Usage: OMP_NUM_THREADS=1 .venv/bin/python models/experiment_gbm.py [--task churn|intent]
       [--quick] [--json OUT]
Single-threaded on purpose (the machine's 2 cores are shared); about 15 minutes for both tasks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / sklearn load their thread pools

import argparse
import itertools
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.models import datasets  # noqa: E402


def _train_module() -> Any:
    """models/train.py beside this script: the same features, folds and pipeline."""
    sys.path.insert(0, str(ROOT / "models"))
    import train  # type: ignore[import-not-found]

    return train


train = _train_module()

#: the fixed grid the inner CV chooses from (no value was picked on any outer test fold)
DEPTHS = (2, 3, 4)
RATES = (0.05, 0.1)
MIN_LEAF = (20, 100)
STAGES = (25, 50, 75, 100, 150, 200, 300)  # numbers of trees read from staged predictions
WEIGHTS = (0.25, 0.5, 0.75)  # the LR's weight in the blend
#: the serving proxy: at most this many tree levels in total (trees x depth): ~10 us of walk
LEVEL_BUDGET = 150


@dataclass(frozen=True)
class Config:
    depth: int
    rate: float
    min_leaf: int

    def model(self, trees: int, seed: int) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=trees,
            learning_rate=self.rate,
            max_depth=self.depth,
            max_leaf_nodes=2**self.depth,
            min_samples_leaf=self.min_leaf,
            early_stopping=False,
            random_state=seed,
        )


GRID = tuple(Config(d, r, m) for d, r, m in itertools.product(DEPTHS, RATES, MIN_LEAF))


def log(message: str) -> None:
    print(f"[gbm] {message}", flush=True)


def staged(config: Config, x: np.ndarray, y: np.ndarray, test: np.ndarray, seed: int) -> Any:
    """Probabilities on ``test`` after each number of trees in STAGES (one fit)."""
    model = config.model(max(STAGES), seed).fit(x, y)
    out = {}
    for trees, p in enumerate(model.staged_predict_proba(test), start=1):
        if trees in STAGES:
            out[trees] = p[:, 1]
    return out


def inner_choice(x: np.ndarray, y: np.ndarray, seed: int, columns: np.ndarray) -> dict[str, Any]:
    """Inner CV on one outer training fold: choose GBM and blend settings (nothing else seen)."""
    inner = StratifiedKFold(5, shuffle=True, random_state=seed + 3)
    splits = list(inner.split(x, y))
    # mean inner-fold AUC per candidate
    auc_gbm: dict[tuple[Config, int], list[float]] = {}
    auc_blend: dict[tuple[Config, int, float], list[float]] = {}
    for k, (tr, te) in enumerate(splits):
        p_lr = train.build_model(seed + 100 + k, 5).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
        for config in GRID:
            xs = x[:, columns]
            for trees, p in staged(config, xs[tr], y[tr], xs[te], seed + k).items():
                auc_gbm.setdefault((config, trees), []).append(roc_auc_score(y[te], p))
                for w in WEIGHTS:
                    blend = w * p_lr + (1 - w) * p
                    auc_blend.setdefault((config, trees, w), []).append(roc_auc_score(y[te], blend))

    def best(table: dict[Any, list[float]], limit: float) -> tuple[Any, float]:
        fits = {k: float(np.mean(v)) for k, v in table.items() if k[1] * k[0].depth <= limit}
        key = max(fits, key=lambda k: (fits[k], -k[1] * k[0].depth))  # ties: the smaller
        return key, fits[key]

    inf = float("inf")
    return {
        "gbm": best(auc_gbm, inf),
        f"gbm<={LEVEL_BUDGET}": best(auc_gbm, LEVEL_BUDGET),
        "blend": best(auc_blend, inf),
        f"blend<={LEVEL_BUDGET}": best(auc_blend, LEVEL_BUDGET),
    }


def describe(key: tuple[Any, ...]) -> str:
    config, trees = key[0], key[1]
    text = f"{trees}x depth {config.depth}, lr {config.rate}, leaf>={config.min_leaf}"
    return text + (f", w_lr {key[2]}" if len(key) > 2 else "")


def run_task(task: Any, quick: bool, columns_name: str) -> dict[str, Any]:
    rows = datasets.read_csv(train.DATA_DIR / task.data_file)
    x, y = task.rows_to_xy(rows)
    columns = column_subset(task.name, columns_name, x.shape[1])
    log(
        f"{task.name}: {x.shape[0]} rows, {x.shape[1]} features ({len(columns)} for the trees: "
        f"{columns_name}), {y.mean():.1%} positive"
    )
    outer = StratifiedKFold(5, shuffle=True, random_state=train.SEED)  # train.py's test folds
    results: dict[str, list[float]] = {}
    chosen: dict[str, list[str]] = {}
    for fold, (tr, te) in enumerate(outer.split(x, y), start=1):
        if quick and fold > 2:
            break
        started = time.perf_counter()
        seed = train.SEED + fold * 10
        p_lr = train.build_model(seed, 5).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
        results.setdefault("lr", []).append(roc_auc_score(y[te], p_lr))
        choice = inner_choice(x[tr], y[tr], seed, columns)
        fitted: dict[tuple[Config, int], np.ndarray] = {}
        for name, (key, inner_auc) in choice.items():
            config, trees = key[0], key[1]
            if (config, trees) not in fitted:
                model = config.model(trees, seed).fit(x[tr][:, columns], y[tr])
                fitted[(config, trees)] = model.predict_proba(x[te][:, columns])[:, 1]
            p = fitted[(config, trees)]
            if name.startswith("blend"):
                p = key[2] * p_lr + (1 - key[2]) * p
            results.setdefault(name, []).append(roc_auc_score(y[te], p))
            chosen.setdefault(name, []).append(f"{describe(key)} (inner {inner_auc:.4f})")
        log(
            f"  fold {fold}: "
            + "  ".join(f"{k} {v[-1]:.4f}" for k, v in results.items())
            + f"  ({time.perf_counter() - started:.0f}s)"
        )
        for name, picks in chosen.items():
            log(f"    {name:<12} chose {picks[-1]}")
    log(f"{task.name} ({columns_name}), goal {task.goal}:")
    for name, values in results.items():
        flag = "MEETS" if np.mean(values) >= task.goal else "short"
        log(f"  {name:<12} {train.summary(values)}  {flag}")
    return {"task": task.name, "columns": columns_name, "auc": results, "chosen": chosen}


def column_subset(task: str, name: str, width: int) -> np.ndarray:
    """Columns of the shipped feature vector the trees see (all computable from the profile)."""
    if name == "all":
        return np.arange(width)
    names = train.TASKS[0 if task == "churn" else 1].feature_names
    if task == "intent" and name == "base":
        # the session itself: the ten base features, month, visitor type, weekend, traffic type
        keep = [
            i
            for i, n in enumerate(names)
            if i < 10 or n.split("=")[0] in ("month", "visitor_type", "weekend", "traffic_type")
        ]
        return np.array(keep)
    if task == "churn" and name == "base":
        # the attributes themselves: one-hots and the three numbers, no derived features
        return np.arange(names.index("total_charges") + 1)
    raise SystemExit(f"unknown column subset {name!r} for {task}")


def lr_variants(task: Any) -> dict[str, list[float]]:
    """The shipped LR pipeline on the shipped vector plus a few extra transforms (outer CV only:
    the LR's own C and calibration stay nested inside train.build_model)."""
    rows = datasets.read_csv(train.DATA_DIR / task.data_file)
    x, y = task.rows_to_xy(rows)
    names = list(task.feature_names)
    col = {n: i for i, n in enumerate(names)}
    extras: dict[str, np.ndarray] = {}
    if task.name == "intent":
        lpd, lp = x[:, col["log1p_product_related_duration"]], x[:, col["log1p_product_related"]]
        lpv, pos = x[:, col["log1p_page_value"]], x[:, col["page_value>0"]]
        extras["log_sec_per_product_page"] = np.column_stack([lpd - lp, pos * (lpd - lp)])
        extras["page_value^2"] = np.column_stack([lpv**2, pos * x[:, col["exit_rate"]] * lpv])
        returning = x[:, col["visitor_type=Returning_Visitor"]]
        extras["visitor*log_product"] = np.column_stack([returning * lp, returning * lpd])
    else:
        lt, mc = x[:, col["log1p_tenure"]], x[:, col["monthly_charges"]]
        tenure = x[:, col["tenure"]]
        extras["tenure_hinges"] = np.column_stack([np.maximum(0, tenure - k) for k in (12, 24, 48)])
        extras["charges*log_tenure"] = np.column_stack([mc * lt, lt**2])
        two_year = x[:, col["contract=Two year"]]
        extras["contract*charges"] = np.column_stack([two_year * mc, two_year * lt])
    outer = StratifiedKFold(5, shuffle=True, random_state=train.SEED)
    out: dict[str, list[float]] = {}
    for name, extra in [("shipped", None), *extras.items(), ("all extras", "all")]:
        if extra is None:
            xv = x
        elif isinstance(extra, str):
            xv = np.column_stack([x, *extras.values()])
        else:
            xv = np.column_stack([x, extra])
        for fold, (tr, te) in enumerate(outer.split(xv, y), start=1):
            model = train.build_model(train.SEED + fold * 10, 5).fit(xv[tr], y[tr])
            out.setdefault(name, []).append(roc_auc_score(y[te], model.predict_proba(xv[te])[:, 1]))
        log(f"{task.name} LR + {name}: {train.summary(out[name])}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("churn", "intent"), action="append")
    parser.add_argument("--columns", default="all", help="tree columns: all or base")
    parser.add_argument("--quick", action="store_true", help="2 outer folds only (smoke)")
    parser.add_argument("--lr-variants", action="store_true", help="LR feature variants only")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    train.check_data_sums(train.DATA_DIR)
    tasks = [t for t in train.TASKS if t.name in (args.task or ("churn", "intent"))]
    log(
        f"grid: {len(GRID)} configs x stages {STAGES}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    report = []
    for task in tasks:
        if args.lr_variants:
            report.append({"task": task.name, "lr_variants": lr_variants(task)})
        else:
            report.append(run_task(task, args.quick, args.columns))
    if args.json:
        args.json.write_bytes(train.dump_json(report))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
