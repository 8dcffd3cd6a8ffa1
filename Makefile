# Segue — everything a fresh machine needs is installed from here.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
SEGUE  := $(VENV)/bin/segue
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick bench-scale models clean broker-start broker-stop broker-status install

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

## Benchmarks: limit vs framework vs Segue side by side, the core alone, one model score.
## Writes BENCHMARKS.md and bench/latency.png. bench-quick finishes in about 3 minutes.
bench: $(STAMP)
	$(PY) bench/run_bench.py

bench-quick: $(STAMP)
	$(PY) bench/run_bench.py --quick

## Scale of state: 1,000,000 profiles in the RocksDB table and its changelog (bytes per profile,
## RSS, recovery, per-event cost vs a small table). Long (tens of minutes) and ~2 GB of RAM in
## the embedded broker: run niced. PROFILES=100000 for a few minutes' version.
PROFILES ?= 1000000
bench-scale: $(STAMP)
	nice -n 10 $(PY) bench/scale_state.py --profiles $(PROFILES)

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
