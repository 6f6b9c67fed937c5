# flowlog developer commands. Every target sets itself up from scratch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="metrics-rollup --duration 10"
DEMO_ARGS ?=

.PHONY: setup tools test lint demo cluster-demo bench streams-bench streams-state-bench streams-join-bench activity-bench bench-replication quix-venv clean

# apt-get needs root; use sudo when we are not root and it is there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# kcat (Debian's package) is one of the real clients the broker is tested with.
tools:
	command -v kcat >/dev/null 2>&1 || $(SUDO) apt-get install -y -qq kcat \
		|| ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq kcat)

setup: $(STAMP) tools

test: setup
	FLOWLOG_REQUIRE_KCAT=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check flowlog flowlog_streams apps tests bench
	$(BIN)/mypy flowlog flowlog_streams apps

# `flowlog demo`: a broker, the activity-tracking app and its generator, live for 30 s.
# A three-node cluster: the partition leader is killed while a producer and a consumer run.
cluster-demo: $(STAMP)
	$(BIN)/python -m apps.cluster_demo

demo: $(STAMP)
	$(BIN)/python -m flowlog demo $(DEMO_ARGS)

# Quix Streams, the reference of the streams benchmark, in its own venv so its pins never
# touch the project's; the version is pinned in bench/requirements-quix.txt.
QUIX_VENV := .venv-quix
QUIX_STAMP := $(QUIX_VENV)/.installed
$(QUIX_STAMP): bench/requirements-quix.txt
	test -x $(QUIX_VENV)/bin/python || $(PYTHON) -m venv $(QUIX_VENV)
	echo '*' > $(QUIX_VENV)/.gitignore
	$(QUIX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(QUIX_VENV)/bin/python -m pip install --quiet -r bench/requirements-quix.txt
	touch $(QUIX_STAMP)

quix-venv: $(QUIX_STAMP)

# Every benchmark runs even when an earlier one fails; the target fails if any did.
bench: $(BENCH_STAMP) $(QUIX_STAMP)
	status=0; \
	$(BIN)/python -m bench.run || status=$$?; \
	$(BIN)/python -m bench.streams_bench || status=$$?; \
	$(BIN)/python -m bench.streams_state_bench || status=$$?; \
	$(BIN)/python -m bench.streams_join_bench || status=$$?; \
	$(BIN)/python -m bench.streams_join_bench --kind stream-table || status=$$?; \
	$(BIN)/python -m bench.activity_bench || status=$$?; \
	exit $$status

# Issue 14: three local brokers, RF 3 against RF 1 (throughput, latency) and failover time.
bench-replication: $(STAMP)
	$(BIN)/python -m bench.replication_bench

# The activity-tracking app's four outputs: one and two instances, and Quix Streams.
activity-bench: $(STAMP) $(QUIX_STAMP)
	$(BIN)/python -m bench.activity_bench

streams-bench: $(STAMP) $(QUIX_STAMP)
	$(BIN)/python -m bench.streams_bench

streams-state-bench: $(STAMP) $(QUIX_STAMP)
	$(BIN)/python -m bench.streams_state_bench

# Stream-stream windowed inner join, 500,000 records a side; then a stream-table join,
# 1,000,000 records against a 100,000-row table (no Quix reference: Quix has no such joins).
streams-join-bench: $(STAMP)
	status=0; \
	$(BIN)/python -m bench.streams_join_bench || status=$$?; \
	$(BIN)/python -m bench.streams_join_bench --kind stream-table || status=$$?; \
	exit $$status

clean:
	rm -rf $(VENV) $(QUIX_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
