# Segue — everything a fresh machine needs is installed from here.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
SEGUE  := $(VENV)/bin/segue
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench models clean broker-start broker-stop broker-status install

install: $(STAMP)

# The venv is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[broker,dev]'
	@touch $(STAMP)

## The main job on the embedded broker: broker, topics, worker, simulated traffic, summary.
demo: $(STAMP)
	$(SEGUE) demo

## The whole test suite (unit + integration on a real broker).
test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests models bench tools
	$(VENV)/bin/ruff format --check app tests models bench tools
	$(VENV)/bin/mypy app

## Benchmarks (quick sizes): the core's replay rate, one model score, ingest + profiles live.
bench: $(STAMP)
	$(PY) bench/core_replay.py --quick
	$(PY) bench/score_cost.py
	$(PY) bench/ingest_profiles.py --events 20000

## Retrain the churn and intent models from models/data (artifacts, cards, plots, manifest).
models: $(STAMP)
	$(PY) models/train.py

broker-start: $(STAMP)
	$(SEGUE) broker start

broker-stop: $(STAMP)
	$(SEGUE) broker stop

broker-status: $(STAMP)
	$(SEGUE) broker status

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache
