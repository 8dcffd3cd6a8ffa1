"""The Prometheus alert rules and the Grafana dashboard shipped in docker/ name only metrics
(and labels) that Segue exports: a renamed metric must not leave an alert that never fires."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import app.runtime.lag_monitor
import app.runtime.loop
import app.sinks.worker
import app.stream.journey_agent
import app.stream.latency
import app.worker.run  # noqa: F401  (each defines its metrics on import)

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bsegue_[a-z_]+")
BY = re.compile(r"(?:by|on) \(([^)]*)\)")
SUFFIXES = ("_bucket", "_count", "_sum")


def exported() -> dict[str, set[str]]:
    """Every segue_ sample name with the labels it carries."""
    names: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else ():
            labels = set(getattr(collector, "_labelnames", ()))
            for suffix in ("", "_total", *SUFFIXES):
                names.setdefault(family.name + suffix, set()).update(labels)
    return {n: labels | {"le", "quantile"} for n, labels in names.items() if n.startswith("segue_")}


def expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((ROOT / "docker/prometheus/alerts.yml").read_text())
    found = [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]
    board = json.loads((ROOT / "docker/grafana/segue-dashboard.json").read_text())
    found += [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
    return found


def test_every_metric_and_label_in_the_alerts_and_the_dashboard_is_exported() -> None:
    known = exported()
    assert "segue_outcomes_total" in known and "segue_consumer_lag_records" in known
    checked = 0
    for where, expr in expressions():
        used = set(METRIC.findall(expr))
        assert used, f"{where}: no segue metric in {expr!r}"
        for name in used:
            assert name in known, f"{where}: {name} is not exported"
        for group in BY.findall(expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                assert any(label in known[n] for n in used), f"{where}: no label {label!r}"
        for label in re.findall(r"\{(\w+)=", expr):
            assert any(label in known[n] for n in used), f"{where}: no label {label!r}"
        checked += 1
    assert checked >= 15


def test_a_renamed_metric_would_be_caught() -> None:
    known = exported()
    assert "segue_journey_transitions_total" not in known  # the old name of the outcome counter
