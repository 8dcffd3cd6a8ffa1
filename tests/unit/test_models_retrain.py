"""``segue models retrain``: training rows from history, the time split, the accept/refuse rule,
the new revision the scorer then serves, and the command line (no Kafka).

The churn histories are built by hand from real Telco records so that the truth is known: every
customer is active every other day under a "staying" record; a churner's CRM record changes to a
"leaving" one just before a cutoff, after which they are never seen again. Staying records are
those the shipped churn model ranks in its lowest 40%, leaving ones in its highest 40%: the
shipped model ranks the held-out rows perfectly, a model with its weights negated perfectly
wrongly, and the candidate has to learn the difference from the rows.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.core.envelope import validate_event
from app.core.features import churn_features
from app.core.timeutil import format_ms, parse_rfc3339
from app.models import datasets
from app.models.artifact import MANIFEST, dump_json, load_models
from app.models.history import (
    DAY_MS,
    ORDER_WINDOW_MS,
    history_from_events,
    positives,
    split_by_time,
)
from app.models.retrain import (
    DEFAULT_MARGIN,
    RetrainError,
    check_enough,
    evaluate,
    load_train_module,
    write,
)
from app.models.scorer import ModelScorer
from app.paths import MODELS_DIR
from app.sim.generator import DEFAULT_START_MS, simulate

pytest.importorskip("sklearn", reason="retraining needs segue[train]")

import app.cli.models  # noqa: F401  (registers `segue models` on the app)

T0 = parse_rfc3339("2026-01-05T00:00:00Z")
WEEKS = 9
HORIZON_DAYS = 7.0
CUSTOMERS = 400
CHURNERS = 0.3
FOLDS = 3
runner = CliRunner()


@pytest.fixture(scope="module")
def records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(staying, leaving) CRM records: the shipped model's lowest and highest 40% of Telco."""
    rows = datasets.read_csv(MODELS_DIR / "data" / "Telco-Customer-Churn.csv")
    churn = load_models(MODELS_DIR)["churn"]
    scored = []
    for row in rows:
        attributes = datasets.telco_profile(row)["attributes"]
        scored.append((churn.predict(churn_features({"attributes": attributes})), attributes))
    scored.sort(key=lambda pair: pair[0])
    cut = int(len(scored) * 0.4)
    return [a for _, a in scored[:cut]], [a for _, a in scored[-cut:]]


def _event(n: int, etype: str, customer: str, ts: int, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"t-{n:08d}",
        "type": etype,
        "customer_id": customer,
        "timestamp": format_ms(ts),
        "properties": props,
        "context": {"channel": "web", "source": "test"},
    }


def churn_history(records: tuple[list[Any], list[Any]], seed: int) -> list[dict[str, Any]]:
    """Raw envelopes (see the module doc); cutoffs fall on days 7, 14, ..., 56."""
    staying, leaving = records
    rng = random.Random(seed)
    end = T0 + WEEKS * 7 * DAY_MS
    cutoff_days = list(range(7, WEEKS * 7 - 6, 7))
    out: list[dict[str, Any]] = []
    for i in range(CUSTOMERS):
        cid = f"c-{i:04d}"
        quit_day = rng.choice(cutoff_days) if rng.random() < CHURNERS else None
        out.append(_event(len(out), "ProfileUpdated", cid, T0 + i, rng.choice(staying)))
        last_day = quit_day if quit_day is not None else WEEKS * 7
        for day in range(0, last_day, 2):
            ts = T0 + day * DAY_MS + 3_600_000 + i * 1000
            props = {"session_id": f"s-{i}-{day}", "page_type": "administrative"}
            out.append(_event(len(out), "PageViewed", cid, ts, props))
        if quit_day is not None:
            at = T0 + quit_day * DAY_MS - 7_200_000  # active, then the new record, then gone
            props = {"session_id": f"s-{i}-last", "page_type": "administrative"}
            out.append(_event(len(out), "PageViewed", cid, at, props))
            out.append(_event(len(out), "ProfileUpdated", cid, at + 1, rng.choice(leaving)))
    out.append(_event(len(out), "PageViewed", "c-end", end, {"page_type": "administrative"}))
    return out


def validated(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [validate_event(event) for event in raw]


def models_copy(tmp_path: Path, negate: str | None = None) -> Path:
    """The shipped artifacts in a private folder; ``negate``: that model's weights negated
    (the same features, the ranking reversed), the manifest updated to match."""
    folder = tmp_path / "models"
    folder.mkdir(parents=True)
    manifest = orjson.loads((MODELS_DIR / MANIFEST).read_bytes())
    for entry in manifest["models"].values():
        shutil.copy(MODELS_DIR / entry["file"], folder / entry["file"])
    if negate is not None:
        entry = manifest["models"][negate]
        doc = orjson.loads((folder / entry["file"]).read_bytes())
        doc["coef"] = [-c for c in doc["coef"]]
        doc["intercept"] = -doc["intercept"]
        if "trees" in doc:
            doc["blend"]["lr_weight"] = 1.0  # the trees are not negated: leave them out
        raw = dump_json(doc)
        (folder / entry["file"]).write_bytes(raw)
        import hashlib

        entry["sha256"] = hashlib.sha256(raw).hexdigest()
    (folder / MANIFEST).write_bytes(dump_json(manifest))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


# --- the rows ----------------------------------------------------------------------------------


def test_churn_rows_follow_the_inactivity_rule(records: tuple[list[Any], list[Any]]) -> None:
    raw = churn_history(records, seed=1)
    history = history_from_events(validated(raw), HORIZON_DAYS, 7.0)
    assert [(c - T0) // DAY_MS for c in history.cutoffs] == list(range(7, WEEKS * 7 - 6, 7))
    # the truth: a churner is a positive row exactly at the cutoff they left at
    quits = {}
    for event in raw:
        if event["type"] == "ProfileUpdated" and event["properties"] in records[1]:
            quits[event["customer_id"]] = parse_rfc3339(event["timestamp"]) + 7_200_000 - 1
    expected = {(key, at) for key, at in quits.items()}
    found = {(row.key, row.time) for row in history.churn if row.label == 1}
    assert found == expected
    # no customer is a row after leaving; every row's features are those the profile had then
    for row in history.churn:
        if row.key in quits:
            assert row.time <= quits[row.key]
    assert positives(history.churn) == len(quits)


def test_time_split_keeps_labels_out_of_the_holdout(
    records: tuple[list[Any], list[Any]],
) -> None:
    history = history_from_events(validated(churn_history(records, seed=2)), HORIZON_DAYS, 7.0)
    split = split_by_time(history.churn, 0.2)
    assert split.test and split.train
    assert min(row.time for row in split.test) == split.boundary
    assert max(row.known_at for row in split.train) <= split.boundary
    assert len(split.test) >= 0.2 * len(history.churn)
    assert len(split.train) + len(split.test) + split.dropped == len(history.churn)


def test_intent_rows_label_the_sessions_that_ordered() -> None:
    start = T0
    raw = []

    def page(cid: str, sid: str, ts: int, value: float) -> None:
        props = {"session_id": sid, "page_type": "product_related", "page_value": value}
        raw.append(_event(len(raw), "PageViewed", cid, ts, props))

    # c-1 orders 5 minutes after its pages; c-2 browses and leaves; c-3 orders two hours later
    for cid, sid in (("c-1", "s1"), ("c-2", "s2"), ("c-3", "s3")):
        raw.append(_event(len(raw), "SessionStarted", cid, start, {"session_id": sid}))
        for k in range(3):
            page(cid, sid, start + (k + 1) * 60_000, 10.0 if cid == "c-1" else 0.0)
    raw.append(_event(len(raw), "OrderPlaced", "c-1", start + 8 * 60_000, {"total": 5.0}))
    raw.append(_event(len(raw), "OrderPlaced", "c-3", start + 2 * 3_600_000, {"total": 5.0}))
    # c-4's session is still open at the end: censored
    raw.append(_event(len(raw), "SessionStarted", "c-4", start + 3 * 3_600_000, {}))
    history = history_from_events(validated(raw), HORIZON_DAYS, 7.0)
    labels = {row.key: row.label for row in history.intent}
    assert labels == {"c-1": 1, "c-2": 0, "c-3": 0}
    assert history.censored_sessions == 1
    row = next(row for row in history.intent if row.key == "c-1")
    assert row.time == start + 3 * 60_000  # the last page before the order
    assert row.known_at == row.time + ORDER_WINDOW_MS


def test_intent_rows_from_the_simulator_carry_the_signal() -> None:
    """Simulated sessions (small, seeded) give rows whose label the shipped intent model ranks
    far better than chance: the rows' features and labels line up as in training."""
    from app.models.retrain import roc_auc

    events = [
        validate_event(e)
        for e in simulate(5, 0.005, 45 * 86_400, DEFAULT_START_MS, 100)
        if isinstance(e, dict)
    ]
    history = history_from_events(events, HORIZON_DAYS, 7.0)
    orders = sum(1 for e in events if e["type"] == "OrderPlaced")
    assert 0 < positives(history.intent) <= orders
    intent = load_models(MODELS_DIR)["intent"]
    rows = history.intent
    auc = roc_auc([r.label for r in rows], [intent.predict(r.features) for r in rows])
    assert auc > 0.75


# --- accept / refuse ---------------------------------------------------------------------------


def test_a_better_candidate_is_accepted_and_served(
    records: tuple[list[Any], list[Any]], tmp_path: Path
) -> None:
    folder = models_copy(tmp_path, negate="churn")
    before = ModelScorer.load(folder).version
    history = history_from_events(validated(churn_history(records, seed=3)), HORIZON_DAYS, 7.0)
    split = split_by_time(history.churn, 0.2)
    check_enough("churn", split, "")
    verdict = evaluate("churn", split, folder, {"file": "test"}, DEFAULT_MARGIN, FOLDS)
    assert verdict.running_auc < 0.5 < verdict.candidate_auc
    assert verdict.accepted
    assert verdict.revision == 2
    written = write(folder, [verdict])
    assert [p.name for p in written] == ["churn.r2.json"]
    assert (folder / "churn.json").is_file()  # the old revision stays
    manifest = orjson.loads((folder / MANIFEST).read_bytes())
    assert manifest["models"]["churn"]["revision"] == 2
    assert manifest["models"]["churn"]["file"] == "churn.r2.json"
    scorer = ModelScorer.load(folder)  # what the worker does at its next start
    assert scorer.version != before
    assert scorer.version.split("+")[1] == before.split("+")[1]  # intent untouched
    doc = orjson.loads((folder / "churn.r2.json").read_bytes())
    assert doc["revision"] == 2 and doc["retrained"]["candidate_auc"] == verdict.candidate_auc
    # the new artifact scores the held-out rows as the verdict said
    from app.models.retrain import roc_auc

    new = load_models(folder)["churn"]
    labels = [row.label for row in split.test]
    auc = roc_auc(labels, [new.predict(row.features) for row in split.test])
    assert auc == pytest.approx(verdict.candidate_auc)
    # an operator goes back to revision 1 by editing the manifest; the next accepted candidate
    # takes the next free number: revision 2 stays as it was
    r2 = (folder / "churn.r2.json").read_bytes()
    manifest["models"]["churn"] = {
        "file": "churn.json",
        "sha256": hashlib.sha256((folder / "churn.json").read_bytes()).hexdigest(),
    }
    (folder / MANIFEST).write_bytes(orjson.dumps(manifest))
    again = evaluate("churn", split, folder, {"file": "test"}, DEFAULT_MARGIN, FOLDS)
    assert again.accepted and again.running_revision == 1
    assert [p.name for p in write(folder, [again])] == ["churn.r3.json"]
    assert "wrote churn.r3.json (revision 3)" in again.line()
    assert (folder / "churn.r2.json").read_bytes() == r2


def test_a_candidate_no_better_than_the_running_model_is_refused(
    records: tuple[list[Any], list[Any]], tmp_path: Path
) -> None:
    folder = models_copy(tmp_path)  # the shipped model: it ranks these rows perfectly
    before = snapshot(folder)
    history = history_from_events(validated(churn_history(records, seed=4)), HORIZON_DAYS, 7.0)
    split = split_by_time(history.churn, 0.2)
    verdict = evaluate("churn", split, folder, {"file": "test"}, DEFAULT_MARGIN, FOLDS)
    assert verdict.running_auc == 1.0
    assert verdict.candidate_auc < verdict.running_auc + DEFAULT_MARGIN
    assert not verdict.accepted
    assert write(folder, [verdict]) == []
    assert snapshot(folder) == before
    assert "refused" in verdict.line()


def test_the_margin_decides(records: tuple[list[Any], list[Any]], tmp_path: Path) -> None:
    """The same candidate and running model: refused when the margin exceeds the gain."""
    folder = models_copy(tmp_path, negate="churn")
    history = history_from_events(validated(churn_history(records, seed=3)), HORIZON_DAYS, 7.0)
    split = split_by_time(history.churn, 0.2)
    gain = None
    for margin in (0.0, 2.0):
        verdict = evaluate("churn", split, folder, {"file": "test"}, margin, FOLDS)
        gain = verdict.candidate_auc - verdict.running_auc
        assert verdict.accepted == (gain >= margin)
    assert gain is not None and 0.0 < gain < 2.0


def test_too_few_positives_is_an_error_that_says_what_to_do(
    records: tuple[list[Any], list[Any]],
) -> None:
    raw = churn_history(records, seed=5)
    history = history_from_events(validated(raw[: len(raw) // 8]), HORIZON_DAYS, 7.0)
    split = split_by_time(history.churn, 0.2)
    with pytest.raises(RetrainError, match="need at least"):
        check_enough("churn", split, "give a longer history")


def test_the_training_pipeline_is_the_one_of_make_models() -> None:
    train = load_train_module()
    assert callable(train.fit_export)
    assert {task.name for task in train.TASKS} == {"churn", "intent"}


# --- the command line --------------------------------------------------------------------------


def _write_jsonl(path: Path, raw: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in raw))
    return path


def _retrain(*args: str) -> Any:
    return runner.invoke(cli_app, ["models", "retrain", *args])


def test_cli_accepts_then_refuses(records: tuple[list[Any], list[Any]], tmp_path: Path) -> None:
    folder = models_copy(tmp_path, negate="churn")
    events = _write_jsonl(tmp_path / "history.jsonl", churn_history(records, seed=6))
    common = ["--events", str(events), "--models-dir", str(folder), "--model", "churn"]
    common += ["--churn-days", "7", "--step-days", "7", "--folds", str(FOLDS)]
    first = _retrain(*common)
    assert first.exit_code == 0, first.output
    assert "accepted" in first.stdout and "revision 2" in first.stdout
    assert (folder / "churn.r2.json").is_file()
    after_first = snapshot(folder)
    # the same history again: revision 2 already learnt it; no gain by the margin
    second = _retrain(*common)
    assert second.exit_code == 3, second.output
    assert "refused" in second.stdout
    assert snapshot(folder) == after_first


def test_cli_missing_file_is_one_line(tmp_path: Path) -> None:
    result = _retrain("--events", str(tmp_path / "nope.jsonl"), "--models-dir", str(MODELS_DIR))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nope.jsonl" in lines[0] and "no such file" in lines[0]


def test_cli_too_little_history_is_one_line(
    records: tuple[list[Any], list[Any]], tmp_path: Path
) -> None:
    folder = models_copy(tmp_path)
    before = snapshot(folder)
    raw = churn_history(records, seed=7)[:500]
    events = _write_jsonl(tmp_path / "short.jsonl", raw)
    result = _retrain("--events", str(events), "--models-dir", str(folder), "--model", "churn")
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("churn: ") and "need at least" in last
    assert snapshot(folder) == before
