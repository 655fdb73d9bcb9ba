# The two commands of the README: `make run` (the whole service locally) and `make test`
# (every check). Each installs what it needs on a fresh machine.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime in template.yaml is python3.13; the venv, tests and local runtime
# use the same interpreter (pyenv ships it in the machine image).
PYTHON_MINOR := 3.13
# pyenv's own install first: its shim on PATH refuses to run while the global version differs.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(PYTHON_MINOR).*/bin/python$(PYTHON_MINOR)) \
                      $(shell python$(PYTHON_MINOR) -c 'import sys; print(sys.executable)' 2>/dev/null))
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
# checkov pins many packages of its own: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
# sam build needs python3.13 on PATH: the venv's.
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1
# DynamoDB Local's port under `make run`: fixed, so `make env-json` can point SAM's containers at it.
DYNAMODB_PORT ?= 8765
# The payment provider stand-in's port under `make run`, for the same reason.
PAYMENT_PORT ?= 8766

.PHONY: help install run test lint format typecheck template openapi openapi-check rules bench simulate build hardening \
        bench-cold-start bench-round-trips bench-latency bench-sweeps bench-cpu bench-fanout \
        unit integration e2e infrastructure pytest dynamodb-local chromium env-json clean

help:
	@echo "make run    - the whole service locally: API on http://127.0.0.1:3000, schedules, DynamoDB Local"
	@echo "make test   - every check: ruff, mypy, cfn-lint, sam validate, checkov, openapi staleness, pytest"
	@echo "make rules  - rule -> code -> tests table (RULES.md traceability)"
	@echo "make simulate - a scripted account lifecycle through the local runtime's clock, printed as a timeline"
	@echo "make hardening - the hardening tests' long runs (HARDENING=1): authorization matrix, idempotency, fuzzing, concurrency, failure injection, logs"
	@echo "make bench  - every performance measurement, one table, written to docs/PERFORMANCE.md (BENCH_ARGS=--quick)"
	@echo "make bench-cold-start / bench-round-trips / bench-latency / bench-cpu / bench-sweeps / bench-fanout - one of them alone (BENCH_ARGS for its options)"
	@echo "make env-json - .local/env.json for sam local invoke --env-vars (DynamoDB Local of make run, DYNAMODB_PORT)"
	@echo "make openapi / make build / make unit|integration|e2e|infrastructure / make clean"

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "python$(PYTHON_MINOR) not found (pyenv install $(PYTHON_MINOR) or put it on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): $(VENV)/bin/python requirements-dev.txt layers/shared/python/requirements.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

$(CHECKOV_VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "python$(PYTHON_MINOR) not found (pyenv install $(PYTHON_MINOR) or put it on PATH)"; exit 1; }
	$(PYTHON) -m venv $(CHECKOV_VENV)

$(CHECKOV_INSTALLED): $(CHECKOV_VENV)/bin/python requirements-checkov.txt
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

dynamodb-local: install
	$(BIN)/python -c "from local_runtime.dynamodb_local import ensure_installed, ROOT; print(ensure_installed(ROOT))"

# Headless Chromium for the browser tests (tests/e2e/test_browser_e2e.py, test_portal_e2e.py): Debian's package, which
# Playwright drives (never `playwright install`, which downloads browsers of its own). apt-get
# installs it when missing and this is root (CI); otherwise the tests skip, saying why, unless
# CI is set: then they fail.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	elif [ -n "$$CI" ]; then \
		echo "no $(CHROMIUM) and not root: CI must install chromium (apt-get install chromium)"; exit 1; \
	else \
		echo "no $(CHROMIUM): the browser tests will skip (as root: apt-get install --no-install-recommends chromium)"; \
	fi

run: install
	$(BIN)/python -m local_runtime --dynamodb-port $(DYNAMODB_PORT) --payment-port $(PAYMENT_PORT)

# .local/env.json, the --env-vars file of `sam local invoke` (README "With Docker and the SAM CLI").
env-json: install
	$(BIN)/python -m local_runtime.sam_env --dynamodb-port $(DYNAMODB_PORT) --payment-port $(PAYMENT_PORT)

# lint-imports holds the layer's tiers (pyproject.toml [tool.importlinter]): no upward import.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/shared/python $(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Strict on the layer; each function is checked on its own since every handler module is app.py.
typecheck: install
	$(BIN)/mypy layers/shared/python/lifecycle local_runtime scripts
	for fn in functions/*/app.py; do MYPYPATH=layers/shared/python $(BIN)/mypy --follow-imports=silent $$fn || exit 1; done

# checkov: every finding is fixed or skipped with a reason: checks skipped for every resource in
# .checkov.yaml, a reason of one resource's own in the template (Metadata: checkov: skip).
# check_deployable: the tables reach this template from the last v* release in one stack update.
template: install $(CHECKOV_INSTALLED)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --file template.yaml --framework cloudformation --quiet --compact --skip-download
	$(BIN)/python scripts/check_deployable.py

openapi: install
	$(BIN)/python scripts/openapi.py

openapi-check: install
	$(BIN)/python scripts/openapi.py --check

rules: install
	$(BIN)/python scripts/rules.py

# Not a test: loads 100,000 accounts into DynamoDB Local and prints what each sweep reads.
# Performance measurements (not tests, not in make test): cold start, DynamoDB round trips per
# route (fails while a route is over bench/round_trip_budgets.json), latency and throughput
# through the local runtime, CPU per request in process against its bare DynamoDB calls, sweeps
# at 100,000 accounts against a Scan. One table at the end.
bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)
bench-cold-start: install
	$(BIN)/python scripts/bench_cold_start.py $(BENCH_ARGS)
bench-round-trips: install
	$(BIN)/python scripts/bench_round_trips.py $(BENCH_ARGS)
bench-latency: install
	$(BIN)/python scripts/bench_latency.py $(BENCH_ARGS)
bench-sweeps: install
	$(BIN)/python scripts/bench_sweeps.py $(BENCH_ARGS)
# A price change fanned out to 10,000 owners through the local runtime (BENCH_ARGS=--owners 1000: smaller).
bench-fanout: install
	$(BIN)/python scripts/bench_fanout.py $(BENCH_ARGS)
bench-cpu: install
	$(BIN)/python scripts/bench_cpu.py $(BENCH_ARGS)

# pytest-xdist: PYTEST_WORKERS processes (2 on the 2-core CI machine; 0 runs in process);
# --dist loadgroup keeps the tests of one session resource (the local runtime, DynamoDB
# Local) on one worker (tests/conftest.py). The 25 slowest tests print before the summary line.
PYTEST_WORKERS ?= 2
PYTEST_ARGS := -n $(PYTEST_WORKERS) --dist loadgroup --durations=25

# The hardening tests (marker `hardening`) at their long sizes; `make test` runs them small.
# Prints the figures the README's reliability section quotes.
hardening: dynamodb-local $(CHECKOV_INSTALLED)
	HARDENING=1 $(BIN)/pytest $(PYTEST_ARGS) -m hardening

# A scripted lifecycle (trial, expiry, inactivity, purge, retention) printed as a timeline.
simulate: install
	$(BIN)/python scripts/simulate_lifecycle.py

build: install
	$(BIN)/sam build

unit: install
	$(BIN)/pytest $(PYTEST_ARGS) tests/unit
integration: dynamodb-local
	$(BIN)/pytest $(PYTEST_ARGS) tests/integration
e2e: dynamodb-local chromium
	$(BIN)/pytest $(PYTEST_ARGS) tests/e2e
infrastructure: install
	$(BIN)/pytest tests/infrastructure

pytest: dynamodb-local chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# The README's second command; .ci/run calls it. Ends with pytest's summary line.
test: lint typecheck template openapi-check pytest

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
