"""Train the churn and intent models from the shipped public data sets (`make models`).

For each model: check the data set's SHA-256, build features through the SAME core functions the
stream uses (app/models/datasets.py -> app/core/features.py), estimate quality with stratified
5-fold cross-validation of the whole pipeline (scaler, logistic regression whose C is chosen by an
inner CV on the training folds only, Platt calibration fitted on inner out-of-fold predictions;
for a blend task also a HistGradientBoosting ensemble within the scoring budget, its settings and
the blend weight chosen by an inner CV on the training folds only, see ``BudgetBlend``), then fit
that pipeline on all rows and write:

  models/<name>.json              the parameters (plain JSON, see app/models/artifact.py)
  models/<name>.card.md           the model card
  models/<name>.reliability.png   the reliability diagram of the cross-validated predictions
  models/manifest.json            file names and SHA-256 of the artifacts

Everything is seeded; a rerun on the same library versions writes byte-identical artifacts.
Usage: python models/train.py [--out DIR] [--sample N] [--folds K]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

# scikit-learn and matplotlib are the `train` extra's (pyproject.toml), not the core's: scoring
# never needs them. Without them training stops with one line saying what to install.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import sklearn
    from sklearn.calibration import CalibratedClassifierCV, calibration_curve
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise SystemExit(
        f"install segue[train] to train models ({exc.name} is missing): "
        "pip install 'segue[train]', or `make install` in a checkout"
    ) from None

from app.core import features as core_features  # noqa: E402
from app.models import datasets  # noqa: E402
from app.models.artifact import (  # noqa: E402
    BLEND_FORMAT,
    BLEND_FORMAT_VERSION,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    check_artifact,
    dump_json,
    installed_versions,
)
from app.models.trees import export_hgb  # noqa: E402

SEED = 20261123  # differs from the seed used while exploring features (42), see docs/models.md
CS = (0.03, 0.1, 0.3, 1.0)  # inverse L2 strengths the inner CV chooses from
DATA_DIR = ROOT / "models" / "data"
PARITY_TOLERANCE = 1e-9
#: the blend's tree grid (fixed; the inner CV chooses): depth, learning rate, min leaf size,
#: number of trees, LR weight; only ensembles of at most TREE_LEVELS levels (trees x depth):
#: the scoring budget (docs/models.md, "Gradient boosting")
TREE_DEPTHS = (2, 3, 4)
TREE_RATES = (0.05, 0.1)
TREE_MIN_LEAF = (20, 100)
TREE_COUNTS = (25, 50, 75, 100, 150)
BLEND_WEIGHTS = (0.25, 0.5, 0.75)
TREE_LEVELS = 150


@dataclass(frozen=True)
class Task:
    name: str
    data_file: str
    target: str
    feature_set: str
    feature_names: tuple[str, ...]
    rows_to_xy: Callable[[list[dict[str, str]]], tuple[np.ndarray, np.ndarray]]
    reference: str
    goal: float
    kind: str = "logistic"  # or "blend": BudgetBlend


def churn_xy(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    x = [core_features.churn_features(datasets.telco_profile(row)) for row in rows]
    y = [datasets.telco_label(row) for row in rows]
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.int64)


def intent_xy(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    x = [core_features.intent_features(*datasets.shoppers_profile(row)) for row in rows]
    y = [datasets.shoppers_label(row) for row in rows]
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.int64)


TASKS = (
    Task(
        "churn",
        "Telco-Customer-Churn.csv",
        "Churn == 'Yes': the customer left within the last month (IBM Telco)",
        core_features.CHURN_FEATURE_SET,
        core_features.CHURN_FEATURES,
        churn_xy,
        "published: ~0.84 ROC-AUC, boosted trees (Lalwani et al., Computing 104, 2022); "
        "plain 5-fold CV on sklearn 1.9.1: LR 0.845 +/- 0.014, HGB 0.836 +/- 0.013",
        0.85,
    ),
    Task(
        "intent",
        "online_shoppers_intention.csv",
        "Revenue == TRUE: the session ended with a purchase (UCI Online Shoppers)",
        core_features.INTENT_FEATURE_SET,
        core_features.INTENT_FEATURES,
        intent_xy,
        "published: 0.937 auROC, XGBoost with feature selection and oversampling "
        "(Abdullah-All-Tanvir et al., Heliyon 9(4), 2023); plain 5-fold CV on sklearn 1.9.1: "
        "HGB 0.932 +/- 0.005, LR 0.893 +/- 0.009",
        0.935,
        "blend",  # LR + trees: 0.9356 vs LR alone 0.9337 (docs/models.md, "Gradient boosting")
    ),
)


def log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def check_data_sums(data_dir: Path) -> dict[str, str]:
    """Verify models/data/SHA256SUMS; training on altered data is refused."""
    sums = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    for name, digest in sums.items():
        actual = hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
        if actual != digest:
            sys.exit(f"[train] {name}: SHA-256 {actual} does not match SHA256SUMS {digest}")
    log(f"data sums OK: {', '.join(sorted(sums))}")
    return sums


def build_model(seed: int, folds: int) -> CalibratedClassifierCV:
    """Scaler + L2 logistic regression (C by inner CV on ROC-AUC) + Platt calibration.

    The calibrator is fitted on out-of-fold predictions of the training rows (ensemble=False),
    then the base model is refitted on all of them: one model to export, honestly calibrated.
    """
    inner = StratifiedKFold(folds, shuffle=True, random_state=seed + 1)
    base = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "lr",
                LogisticRegressionCV(
                    Cs=list(CS),
                    l1_ratios=(0.0,),
                    cv=inner,
                    scoring="roc_auc",
                    solver="newton-cholesky",  # exact Newton steps: few features, tight optimum
                    max_iter=1000,
                    use_legacy_attributes=False,
                ),
            ),
        ]
    )
    calibration_cv = StratifiedKFold(folds, shuffle=True, random_state=seed + 2)
    return CalibratedClassifierCV(base, method="sigmoid", cv=calibration_cv, ensemble=False)


def build_trees(depth: int, rate: float, min_leaf: int, trees: int, seed: int) -> Any:
    return HistGradientBoostingClassifier(
        max_iter=trees,
        learning_rate=rate,
        max_depth=depth,
        max_leaf_nodes=2**depth,
        min_samples_leaf=min_leaf,
        early_stopping=False,
        random_state=seed,
    )


class BudgetBlend:
    """``w * p_lr + (1 - w) * p_trees``: the logistic pipeline of :func:`build_model` and a
    HistGradientBoostingClassifier of at most ``TREE_LEVELS`` levels (trees x depth).

    Depth, learning rate, min leaf size, number of trees and ``w`` are chosen together by an
    inner stratified CV on the rows given to ``fit`` (mean inner-fold ROC-AUC over the fixed
    grid; ties go to the smaller ensemble), then both models are refitted on all of them.
    """

    def __init__(self, seed: int, folds: int) -> None:
        self.seed = seed
        self.folds = folds

    def fit(self, x: np.ndarray, y: np.ndarray) -> BudgetBlend:
        seed = self.seed
        inner = StratifiedKFold(self.folds, shuffle=True, random_state=seed + 3)
        scores: dict[tuple[int, float, int, int, float], list[float]] = {}
        for k, (tr, te) in enumerate(inner.split(x, y)):
            p_lr = build_model(seed + 100 + k, self.folds).fit(x[tr], y[tr])
            p_lr = p_lr.predict_proba(x[te])[:, 1]
            for depth in TREE_DEPTHS:
                counts = [n for n in TREE_COUNTS if n * depth <= TREE_LEVELS]
                for rate in TREE_RATES:
                    for min_leaf in TREE_MIN_LEAF:
                        model = build_trees(depth, rate, min_leaf, max(counts), seed + k)
                        stages = model.fit(x[tr], y[tr]).staged_predict_proba(x[te])
                        for n, p in enumerate(stages, start=1):
                            if n not in counts:
                                continue
                            for w in BLEND_WEIGHTS:
                                auc = roc_auc_score(y[te], w * p_lr + (1 - w) * p[:, 1])
                                scores.setdefault((depth, rate, min_leaf, n, w), []).append(auc)
        mean = {key: float(np.mean(v)) for key, v in scores.items()}
        best = max(mean, key=lambda key: (mean[key], -key[0] * key[3]))
        self.depth_, self.rate_, self.min_leaf_, self.n_trees_, self.weight_ = best
        self.inner_auc_ = mean[best]
        self.logistic_ = build_model(seed, self.folds).fit(x, y)
        self.trees_ = build_trees(*best[:4], seed).fit(x, y)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.weight_ * self.logistic_.predict_proba(x)[:, 1]
        p += (1 - self.weight_) * self.trees_.predict_proba(x)[:, 1]
        return np.column_stack([1 - p, p])

    def describe(self) -> str:
        return (
            f"{self.n_trees_} trees of depth {self.depth_}, learning rate {self.rate_:g}, "
            f"min leaf {self.min_leaf_}, LR weight {self.weight_:g}"
        )


def build(task: Task, seed: int, folds: int) -> Any:
    return BudgetBlend(seed, folds) if task.kind == "blend" else build_model(seed, folds)


def logistic_part(model: Any) -> CalibratedClassifierCV:
    return model.logistic_ if isinstance(model, BudgetBlend) else model


def cross_validate(
    x: np.ndarray, y: np.ndarray, folds: int, task: Task | None = None
) -> tuple[dict[str, list[float]], np.ndarray]:
    outer = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    metrics: dict[str, list[float]] = {"roc_auc": [], "pr_auc": [], "brier": [], "C": []}
    oof = np.zeros(len(y), dtype=np.float64)
    for fold, (train, test) in enumerate(outer.split(x, y), start=1):
        started = time.perf_counter()
        if task is None:
            model = build_model(SEED + fold * 10, folds)
        else:
            model = build(task, SEED + fold * 10, folds)
        model.fit(x[train], y[train])
        p = model.predict_proba(x[test])[:, 1]
        oof[test] = p
        metrics["roc_auc"].append(float(roc_auc_score(y[test], p)))
        metrics["pr_auc"].append(float(average_precision_score(y[test], p)))
        metrics["brier"].append(float(brier_score_loss(y[test], p)))
        lr = logistic_part(model)
        metrics["C"].append(float(lr.calibrated_classifiers_[0].estimator[-1].C_))
        trees = f"  {model.describe()}" if isinstance(model, BudgetBlend) else ""
        log(
            f"  fold {fold}/{folds}: ROC-AUC {metrics['roc_auc'][-1]:.4f}  "
            f"PR-AUC {metrics['pr_auc'][-1]:.4f}  Brier {metrics['brier'][-1]:.4f}  "
            f"C {metrics['C'][-1]:g}{trees}  ({time.perf_counter() - started:.1f}s)"
        )
    return metrics, oof


def export(model: Any, task: Task, data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(model, BudgetBlend):
        doc = export(model.logistic_, task, data)
        doc["format"], doc["format_version"] = BLEND_FORMAT, BLEND_FORMAT_VERSION
        doc["trees"] = export_hgb(model.trees_)
        doc["gbm"] = {
            "max_depth": model.depth_,
            "learning_rate": model.rate_,
            "min_samples_leaf": model.min_leaf_,
            "n_trees": model.n_trees_,
        }
        doc["blend"] = {"lr_weight": model.weight_}
        return doc
    calibrated = model.calibrated_classifiers_[0]
    pipeline = calibrated.estimator
    scaler, lr = pipeline.named_steps["scale"], pipeline.named_steps["lr"]
    sigmoid = calibrated.calibrators[0]
    versions = installed_versions()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": task.name,
        "target": task.target,
        "feature_set": task.feature_set,
        "features": list(task.feature_names),
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
        "coef": lr.coef_[0].tolist(),
        "intercept": float(lr.intercept_[0]),
        "C": float(lr.C_),
        # sklearn's Platt: p = expit(-(a z + b)); we store p = expit(slope z + offset)
        "calibration": {
            "method": "sigmoid",
            "slope": -float(sigmoid.a_),
            "offset": -float(sigmoid.b_),
        },
        "trained_with": {
            **versions,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "data": data,
    }


def fit_export(
    task: Task, x: np.ndarray, y: np.ndarray, folds: int, data: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Fit the task's pipeline on all of ``x, y``, export it and check the export reproduces
    it: (the artifact document, the parity). ``make models`` and ``segue models retrain``
    (app/models/retrain.py) both train through this one function."""
    model = build(task, SEED, folds).fit(x, y)
    if isinstance(model, BudgetBlend):
        log(f"{task.name}: chose {model.describe()} (inner CV ROC-AUC {model.inner_auc_:.4f})")
    doc = export(model, task, data)
    parity = verify_parity(doc, model, x, task.name)
    log(f"{task.name}: exported model matches sklearn to {parity:.1e}")
    return doc, parity


def verify_parity(doc: dict[str, Any], model: Any, x: np.ndarray, name: str) -> float:
    """The exported parameters, as the stream scorer folds them, must reproduce predict_proba."""
    from app.models.scorer import ModelScorer

    params = check_artifact(name, doc, installed_versions(), "0" * 64)
    predict = ModelScorer._predict
    mine = np.array([predict(params, row.tolist()) for row in x])
    diff = float(np.max(np.abs(mine - model.predict_proba(x)[:, 1])))
    if diff > PARITY_TOLERANCE:
        sys.exit(f"[train] {name}: exported model differs from sklearn by {diff:.3g}")
    return diff


def reliability_plot(y: np.ndarray, p: np.ndarray, task: Task, path: Path) -> None:
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    top.plot(mean, frac, marker="o", label="cross-validated predictions")
    top.set_ylabel("observed frequency")
    top.set_title(f"{task.name}: reliability (5-fold CV, deciles)")
    top.legend(loc="upper left")
    bottom.hist(p, bins=20, range=(0, 1), color="tab:blue")
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("rows")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.4f} +/- {np.std(values):.4f}"


def blend_lines(doc: dict[str, Any]) -> list[str]:
    if doc["format"] != BLEND_FORMAT:
        return []
    gbm, weight = doc["gbm"], doc["blend"]["lr_weight"]
    return [
        f"- **Blended** ({weight:g} x the logistic probability + {1 - weight:g} x the trees') "
        f"with HistGradientBoosting: {gbm['n_trees']} trees of depth {gbm['max_depth']} "
        f"(learning rate {gbm['learning_rate']:g}, min leaf {gbm['min_samples_leaf']}; "
        f"{len(doc['trees']['feature'])} nodes), chosen with the weight by inner 5-fold CV on "
        f"ROC-AUC among ensembles of at most {TREE_LEVELS} levels (the scoring budget); the "
        "trees are compiled to plain Python at load (app/models/trees.py).",
    ]


def write_card(
    task: Task,
    doc: dict[str, Any],
    sha: str,
    metrics: dict[str, list[float]],
    prevalence: float,
    parity: float,
    path: Path,
) -> None:
    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(stamp), UTC) if stamp else datetime.now(UTC)
    per_fold = ", ".join(f"{v:.4f}" for v in metrics["roc_auc"])
    lines = [
        f"# Model card: {task.name}",
        "",
        f"- **Predicts**: {task.target}, as a calibrated probability (`scores.{task.name}`).",
        "- **Model**: standardised features, L2 logistic regression (C chosen by inner 5-fold CV "
        f"on ROC-AUC from {list(CS)}; final C = {doc['C']:g}), Platt calibration fitted on "
        "out-of-fold predictions.",
        *blend_lines(doc),
        f"- **Artifact**: `{task.name}.json` (format `{doc['format']}` "
        f"v{doc['format_version']}), SHA-256 `{sha}`",
        f"- **Trained**: {when.strftime('%Y-%m-%d %H:%M UTC')} with "
        + ", ".join(f"{k} {v}" for k, v in sorted(doc["trained_with"].items())),
        f"- **Data**: `models/data/{doc['data']['file']}`, SHA-256 `{doc['data']['sha256']}`, "
        f"{doc['data']['rows']} rows, {doc['data']['positives']} positive "
        f"({prevalence:.1%}); see models/data/README.md for source and licence.",
        "",
        "## Cross-validated quality",
        "",
        f"Stratified 5-fold CV (seed {SEED}) of the whole pipeline; mean +/- standard deviation "
        "over the folds:",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| ROC-AUC | {summary(metrics['roc_auc'])} (folds: {per_fold}) |",
        f"| PR-AUC (average precision) | {summary(metrics['pr_auc'])} "
        f"(base rate {prevalence:.4f}) |",
        f"| Brier score | {summary(metrics['brier'])} "
        f"(always predicting the base rate: {prevalence * (1 - prevalence):.4f}) |",
        "",
        f"Goal: ROC-AUC >= {task.goal}. Reference: {task.reference}.",
        "",
        f"Reliability diagram: [{task.name}.reliability.png]({task.name}.reliability.png).",
        f"Exported parameters reproduce sklearn's `predict_proba` on all training rows to "
        f"{parity:.1e} (max abs difference).",
        "",
        "## Features",
        "",
        f"Feature set `{task.feature_set}`, computed by `app/core/features.py` from the profile "
        "(training builds a profile per data set row via `app/models/datasets.py`; the mapping is "
        "in docs/models.md). Largest standardised coefficients (log-odds per standard deviation):",
        "",
        "| feature | coefficient |",
        "| --- | --- |",
    ]
    coef = np.array(doc["coef"])
    for index in np.argsort(-np.abs(coef))[:15]:
        lines.append(f"| `{doc['features'][index]}` | {coef[index]:+.3f} |")
    lines += [
        "",
        f"All {len(doc['features'])} features, in order: "
        + ", ".join(f"`{name}`" for name in doc["features"]),
        "",
        "## Intended use and limits",
        "",
        "Ranking and value-weighting customers in journeys (`decide` multiplies the probability by "
        "business values). Trained on one public data set each; the stream's population differs, "
        "so monitor calibration on live outcomes before relying on absolute values.",
        "",
    ]
    path.write_text("\n".join(lines))


def train_task(task: Task, out: Path, sample: int | None, folds: int) -> dict[str, str]:
    log(f"{task.name}: reading {task.data_file}")
    data_path = DATA_DIR / task.data_file
    rows = datasets.read_csv(data_path)
    if sample:
        rows = rows[:sample]
    x, y = task.rows_to_xy(rows)
    prevalence = float(y.mean())
    log(f"{task.name}: {x.shape[0]} rows, {x.shape[1]} features, {prevalence:.1%} positive")
    log(f"{task.name}: {folds}-fold cross-validation")
    metrics, oof = cross_validate(x, y, folds, task)
    log(
        f"{task.name}: CV ROC-AUC {summary(metrics['roc_auc'])}  PR-AUC "
        f"{summary(metrics['pr_auc'])}  Brier {summary(metrics['brier'])}"
    )
    log(f"{task.name}: fitting the final model on all rows")
    data = {
        "file": task.data_file,
        "sha256": hashlib.sha256(data_path.read_bytes()).hexdigest(),
        "rows": len(y),
        "positives": int(y.sum()),
    }
    doc, parity = fit_export(task, x, y, folds, data)
    raw = dump_json(doc)
    sha = hashlib.sha256(raw).hexdigest()
    (out / f"{task.name}.json").write_bytes(raw)
    reliability_plot(y, oof, task, out / f"{task.name}.reliability.png")
    write_card(task, doc, sha, metrics, prevalence, parity, out / f"{task.name}.card.md")
    log(f"{task.name}: wrote {task.name}.json, .card.md, .reliability.png")
    return {"file": f"{task.name}.json", "sha256": sha}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--sample", type=int, default=None, help="first N rows only (smoke)")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    check_data_sums(DATA_DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, seed {SEED}")
    entries = {task.name: train_task(task, args.out, args.sample, args.folds) for task in TASKS}
    (args.out / MANIFEST).write_bytes(dump_json({"format_version": 1, "models": entries}))
    log(f"wrote {args.out / MANIFEST}")


if __name__ == "__main__":
    warnings.filterwarnings("error", category=FutureWarning)  # surface API drift loudly
    main()
