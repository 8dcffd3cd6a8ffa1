# Segue — everything a fresh machine needs is installed from here.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
SEGUE  := $(VENV)/bin/segue
STAMP  := $(VENV)/.installed
KAFKA_LIBS  := .kafka/libs
KAFKA_STAMP := $(KAFKA_LIBS)/.installed
REGISTRY_DIR   := .registry
REGISTRY_APP   := $(REGISTRY_DIR)/quarkus-app
REGISTRY_STAMP := $(REGISTRY_APP)/.installed

.PHONY: kafka registry browser sentiment-data demo test test-tansu lint bench bench-quick bench-scale models clean broker-start broker-stop broker-status install

install: $(STAMP)

# The venv is rebuilt whenever pyproject.toml changes. Every extra: `train` (scikit-learn,
# matplotlib) is what `make models` and the model tests need; a deployment that only scores skips it.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[broker,dev,bench,train]'
	@touch $(STAMP)

## Apache Kafka's jars for the embedded broker, from Maven Central (broker/pom.xml pins the
## release); copied once into .kafka/libs, again only when the pom changes. Without Java or
## Maven it says so in one line (Tansu, the light broker, still works without them).
kafka: $(KAFKA_STAMP)

$(KAFKA_STAMP): broker/pom.xml
	@command -v java >/dev/null || { echo "Apache Kafka needs Java 17: apt-get install openjdk-17-jre-headless (or run with the light broker: SEGUE_BROKER_KIND=tansu)"; exit 1; }
	@command -v mvn >/dev/null || { echo "fetching Kafka's jars needs Maven: apt-get install maven"; exit 1; }
	@echo "fetching Apache Kafka's jars from Maven Central into $(KAFKA_LIBS) (once)"
	@rm -rf $(KAFKA_LIBS).new
	@mvn -q -B -f broker/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS).new > .kafka.mvn.log 2>&1 \
		|| { tail -n 20 .kafka.mvn.log; echo "Maven could not fetch Kafka's jars (log: .kafka.mvn.log): check that Maven Central can be reached"; exit 1; }
	@rm -rf $(KAFKA_LIBS) && mv $(KAFKA_LIBS).new $(KAFKA_LIBS) && rm -f .kafka.mvn.log
	@touch $(KAFKA_STAMP)

## A Confluent-compatible schema registry for the tests: Apicurio Registry (registry/pom.xml pins
## the release), built once by Maven from Maven Central into .registry/quarkus-app (in-memory
## storage), again only when registry/ changes; app/registry/process.py runs it on 127.0.0.1.
REGISTRY_SOURCES := $(shell find registry -type f -not -path '*/target/*' 2>/dev/null)

registry: $(REGISTRY_STAMP)

$(REGISTRY_STAMP): $(REGISTRY_SOURCES)
	@command -v java >/dev/null || { echo "the schema registry needs Java 17: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "building the schema registry needs Maven: apt-get install maven"; exit 1; }
	@echo "building Apicurio Registry from Maven Central into $(REGISTRY_APP) (once, about a minute)"
	@rm -rf $(REGISTRY_DIR)/build && mkdir -p $(REGISTRY_DIR)
	@mvn -q -B -f registry/pom.xml package -Dregistry.build.dir=$(CURDIR)/$(REGISTRY_DIR)/build \
		'-D%prod.quarkus.package.type=fast-jar' > $(REGISTRY_DIR)/mvn.log 2>&1 \
		|| { tail -n 20 $(REGISTRY_DIR)/mvn.log; echo "Maven could not build the schema registry (log: $(REGISTRY_DIR)/mvn.log): check that Maven Central can be reached"; exit 1; }
	@rm -rf $(REGISTRY_APP) && mv $(REGISTRY_DIR)/build/segue-schema-registry/quarkus-app $(REGISTRY_APP) \
		&& rm -rf $(REGISTRY_DIR)/build $(REGISTRY_DIR)/mvn.log
	@touch $(REGISTRY_STAMP)

## Headless Chromium from Debian: the tests open the report's page in a real browser. Installed
## once with apt-get (as root, else through sudo); without it the browser tests fail and say so.
browser:
	@command -v chromium >/dev/null || { \
		echo "installing chromium from Debian (the browser tests of the report page)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		$$SUDO apt-get install -y -q --no-install-recommends chromium > .chromium.apt.log 2>&1 \
		|| { $$SUDO apt-get update -q >> .chromium.apt.log 2>&1 \
			&& $$SUDO apt-get install -y -q --no-install-recommends chromium >> .chromium.apt.log 2>&1; } \
		|| { tail -n 5 .chromium.apt.log; echo "could not install chromium (log: .chromium.apt.log): apt-get install chromium"; exit 1; }; \
		rm -f .chromium.apt.log; }

## The human-rated sentiment sets of VADER's paper (Hutto & Gilbert, ICWSM 2014: tweets, movie
## and Amazon review snippets, NYT editorial snippets), which ship inside the vaderSentiment
## sdist on PyPI (additional_resources/hutto_ICWSM_2014.tar.gz): downloaded once with pip (the
## release pinned in pyproject.toml, checked against its SHA-256) and unpacked into
## .data/sentiment for bench/sentiment_accuracy.py and tests/unit/test_sentiment.py.
SENTIMENT_DIR     := .data/sentiment
VADER_VERSION     := $(shell sed -n 's/.*"vaderSentiment==\([0-9.]*\)".*/\1/p' pyproject.toml)
VADER_SDIST_SHA256 := 5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9
SENTIMENT_STAMP   := $(SENTIMENT_DIR)/.installed-$(VADER_VERSION)

sentiment-data: $(SENTIMENT_STAMP)

$(SENTIMENT_STAMP): | $(STAMP)
	@echo "fetching VADER's human-rated sentiment sets (vaderSentiment $(VADER_VERSION) sdist) into $(SENTIMENT_DIR) (once)"
	@rm -rf $(SENTIMENT_DIR).new && mkdir -p $(SENTIMENT_DIR).new/sdist
	@$(PY) -m pip download --quiet vaderSentiment==$(VADER_VERSION) --no-deps --no-binary :all: \
		-d $(SENTIMENT_DIR).new/sdist > $(SENTIMENT_DIR).new/pip.log 2>&1 \
		|| { rm -rf $(SENTIMENT_DIR).new; echo "pip could not download the vaderSentiment $(VADER_VERSION) sdist: check that PyPI can be reached and has that release"; exit 1; }
	@echo "$(VADER_SDIST_SHA256)  $(SENTIMENT_DIR).new/sdist/vaderSentiment-$(VADER_VERSION).tar.gz" | sha256sum -c --quiet - >/dev/null 2>&1 \
		|| { rm -rf $(SENTIMENT_DIR).new; echo "the vaderSentiment $(VADER_VERSION) sdist does not match its SHA-256 (Makefile: VADER_SDIST_SHA256)"; exit 1; }
	@tar -xzf $(SENTIMENT_DIR).new/sdist/vaderSentiment-$(VADER_VERSION).tar.gz -C $(SENTIMENT_DIR).new/sdist \
		&& tar -xzf $(SENTIMENT_DIR).new/sdist/vaderSentiment-$(VADER_VERSION)/additional_resources/hutto_ICWSM_2014.tar.gz \
			-C $(SENTIMENT_DIR).new --strip-components=1 --wildcards '*_GroundTruth.txt' '*_README_.txt' \
		&& cp $(SENTIMENT_DIR).new/sdist/vaderSentiment-$(VADER_VERSION)/LICENSE.txt $(SENTIMENT_DIR).new/LICENSE.txt \
		&& chmod 644 $(SENTIMENT_DIR).new/*.txt \
		|| { rm -rf $(SENTIMENT_DIR).new; echo "could not unpack the sentiment sets from the vaderSentiment $(VADER_VERSION) sdist"; exit 1; }
	@rm -rf $(SENTIMENT_DIR).new/sdist $(SENTIMENT_DIR).new/pip.log $(SENTIMENT_DIR) \
		&& mv $(SENTIMENT_DIR).new $(SENTIMENT_DIR)
	@touch $(SENTIMENT_STAMP)

## The main job on the embedded broker: broker, topics, worker, simulated traffic, summary.
demo: $(STAMP) $(KAFKA_STAMP)
	$(SEGUE) demo

## The whole test suite (unit + integration on the embedded Apache Kafka), then the light
## broker's smoke run (the demo path on Tansu).
test: $(STAMP) $(KAFKA_STAMP) $(REGISTRY_STAMP) browser $(SENTIMENT_STAMP)
	$(PY) -m pytest
	@$(MAKE) --no-print-directory test-tansu

## The light broker's own run: the tests marked tansu_smoke (the demo path) on Tansu.
test-tansu: $(STAMP)
	SEGUE_TEST_BROKER=tansu $(PY) -m pytest -m tansu_smoke tests/integration

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

broker-start: $(STAMP) $(KAFKA_STAMP)
	$(SEGUE) broker start

broker-stop: $(STAMP)
	$(SEGUE) broker stop

broker-status: $(STAMP)
	$(SEGUE) broker status

clean:
	rm -rf $(VENV) .kafka $(REGISTRY_DIR) .data .state .pytest_cache .mypy_cache .ruff_cache
