"""``segue models retrain``'s work: train a candidate on the older rows of Segue's own history
with the very pipeline of ``make models`` (``models/train.py``: ``fit_export``), score it and the
running artifact on the held-out recent rows, and write a new artifact revision only when the
candidate's ROC-AUC beats the running one's by the margin.

Versions: a manifest entry may carry ``revision`` (absent: 1, what ``make models`` writes). An
accepted candidate of a model whose running revision is ``n`` is written as ``<name>.r<n+1>.json``
beside the old files (which stay, so going back is a manifest edit), records ``revision`` and
``retrained`` (the comparison) in the artifact, and the manifest then lists it with its SHA-256
and revision; the scorer's ``version`` stamp (``churn-<sha12>+intent-<sha12>``, on every action)
changes with it. A refused candidate writes nothing.

Needs scikit-learn (``segue[train]``) and the checkout's ``models/train.py``; no Kafka.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from app.models.artifact import (
    MANIFEST,
    ArtifactError,
    check_artifact,
    dump_json,
    installed_versions,
    load_models,
)
from app.models.history import Row, Split, positives

#: the candidate must beat the running model's held-out ROC-AUC by at least this much
DEFAULT_MARGIN = 0.005
DEFAULT_HOLDOUT = 0.2
#: the least of each class a training part needs (the pipeline's nested 5-fold CVs) and a
#: held-out part needs (an AUC needs both classes; a handful makes it noise)
MIN_TRAIN_CLASS = 20
MIN_TEST_CLASS = 5
TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "models" / "train.py"


class RetrainError(RuntimeError):
    """Retraining cannot proceed: the message says why and what to do."""


@dataclass(slots=True)
class Verdict:
    name: str
    accepted: bool
    candidate_auc: float
    running_auc: float
    margin: float
    train_rows: int
    train_positives: int
    test_rows: int
    test_positives: int
    running_revision: int
    running_file: str
    doc: dict[str, Any]
    #: the revision written: the running one's next, or the next free number when an older
    #: revision was brought back by a manifest edit (a written revision is never overwritten)
    written_revision: int | None = None

    @property
    def revision(self) -> int:
        return self.written_revision or self.running_revision + 1

    def line(self) -> str:
        head = (
            f"{self.name}: candidate ROC-AUC {self.candidate_auc:.4f} vs running "
            f"{self.running_auc:.4f} on {self.test_rows} held-out rows "
            f"({self.test_positives} positive); trained on {self.train_rows} rows "
            f"({self.train_positives} positive)"
        )
        if self.accepted:
            return f"{head}: accepted, wrote {self.name}.r{self.revision}.json (revision {self.revision})"
        return (
            f"{head}: refused, the candidate must beat the running model by {self.margin:g} "
            f"(needs >= {self.running_auc + self.margin:.4f}); nothing written"
        )


def load_train_module(path: Path = TRAIN_SCRIPT) -> ModuleType:
    """``models/train.py`` (the ``make models`` pipeline), imported once."""
    loaded = sys.modules.get("segue_train")
    if loaded is not None and Path(getattr(loaded, "__file__", "")) == path:
        return loaded
    if not path.is_file():
        raise RetrainError(
            f"{path} is missing: retraining needs a checkout of Segue (models/train.py) "
            "and segue[train]"
        )
    spec = importlib.util.spec_from_file_location("segue_train", path)
    if spec is None or spec.loader is None:
        raise RetrainError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["segue_train"] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # train.py's one line when scikit-learn is not installed
        del sys.modules["segue_train"]
        raise RetrainError(str(exc.code)) from None
    return module


def roc_auc(labels: list[int], scores: list[float]) -> float:
    """ROC-AUC (ties count one half), as scikit-learn's ``roc_auc_score``."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def check_enough(name: str, split: Split, hint: str) -> None:
    """Raise :class:`RetrainError` when either part is too small to train or to judge."""
    train_pos, test_pos = positives(split.train), positives(split.test)
    for part, rows, pos, least in (
        ("training", split.train, train_pos, MIN_TRAIN_CLASS),
        ("held-out", split.test, test_pos, MIN_TEST_CLASS),
    ):
        if pos < least or len(rows) - pos < least:
            raise RetrainError(
                f"{name}: the {part} part has {len(rows)} rows, {pos} positive and "
                f"{len(rows) - pos} negative; need at least {least} of each: {hint}"
            )


def running_revision(models_dir: Path, name: str) -> tuple[int, str]:
    """(revision, file) of the model the manifest in ``models_dir`` lists (1 if unnumbered)."""
    manifest = orjson.loads((models_dir / MANIFEST).read_bytes())
    entry = manifest["models"][name]
    revision = entry.get("revision", 1)
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        raise ArtifactError(f"{models_dir / MANIFEST}: model {name!r}: bad revision {revision!r}")
    return revision, entry["file"]


def evaluate(
    name: str,
    split: Split,
    models_dir: Path,
    source: dict[str, Any],
    margin: float = DEFAULT_MARGIN,
    folds: int = 5,
    train: ModuleType | None = None,
) -> Verdict:
    """Train the candidate on ``split.train`` and judge it against the running artifact of
    ``models_dir`` on ``split.test``; writes nothing (see :func:`write`)."""
    import numpy as np

    train = load_train_module() if train is None else train
    running = load_models(models_dir)[name]  # ArtifactError: the caller says what to do
    revision, running_file = running_revision(models_dir, name)
    task = next(task for task in train.TASKS if task.name == name)
    x = np.array([row.features for row in split.train], dtype=np.float64)
    y = np.array([row.label for row in split.train], dtype=np.int64)
    data = {**source, "rows": len(y), "positives": int(y.sum())}
    with contextlib.redirect_stdout(sys.stderr):  # the pipeline's progress lines
        doc, _ = train.fit_export(task, x, y, folds, data)
    candidate = check_artifact(name, doc, installed_versions(), "0" * 64)
    labels = [row.label for row in split.test]
    candidate_auc = roc_auc(labels, [candidate.predict(row.features) for row in split.test])
    running_auc = roc_auc(labels, [running.predict(row.features) for row in split.test])
    return Verdict(
        name,
        candidate_auc >= running_auc + margin,
        candidate_auc,
        running_auc,
        margin,
        len(split.train),
        int(y.sum()),
        len(split.test),
        positives(split.test),
        revision,
        running_file,
        doc,
    )


def _write_atomically(path: Path, raw: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, path)


def write(models_dir: Path, verdicts: list[Verdict]) -> list[Path]:
    """Write each accepted candidate as its new revision and list it in the manifest (written
    last, atomically: a worker starting meanwhile loads the old set or the new, never a mix)."""
    accepted = [v for v in verdicts if v.accepted]
    if not accepted:
        return []
    manifest_path = models_dir / MANIFEST
    manifest = orjson.loads(manifest_path.read_bytes())
    written = []
    for verdict in accepted:
        revision = verdict.running_revision + 1
        while (models_dir / f"{verdict.name}.r{revision}.json").exists():
            revision += 1
        verdict.written_revision = revision
        doc = dict(verdict.doc)
        doc["revision"] = verdict.revision
        doc["retrained"] = {
            "from_file": verdict.running_file,
            "from_revision": verdict.running_revision,
            "candidate_auc": verdict.candidate_auc,
            "running_auc": verdict.running_auc,
            "margin": verdict.margin,
            "held_out_rows": verdict.test_rows,
            "held_out_positives": verdict.test_positives,
        }
        raw = dump_json(doc)
        path = models_dir / f"{verdict.name}.r{verdict.revision}.json"
        _write_atomically(path, raw)
        written.append(path)
        manifest["models"][verdict.name] = {
            "file": path.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "revision": verdict.revision,
        }
    _write_atomically(manifest_path, dump_json(manifest))
    return written


def rows_summary(rows: list[Row]) -> str:
    return f"{len(rows)} rows, {positives(rows)} positive"
