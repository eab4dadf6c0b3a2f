PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm packages of the federation tests, installed only where Node is (else those tests skip).
FEDERATION := tests/federation
NPM_STAMP := $(FEDERATION)/node_modules/.package-lock.json
NPM_DEPS := $(if $(shell command -v node >/dev/null && command -v npm),$(NPM_STAMP))

.PHONY: install serve test lint format schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/modelbox serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(BIN)/modelbox export-schema > schema.graphql

$(NPM_STAMP): $(FEDERATION)/package.json $(FEDERATION)/package-lock.json
	cd $(FEDERATION) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) lint $(NPM_DEPS)
	$(BIN)/pytest

bench: $(STAMP) $(NPM_DEPS)
	$(BIN)/python bench/nested_query.py
	$(BIN)/python bench/artifacts.py
	$(BIN)/python bench/federation.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/live.py

clean:
	rm -rf $(VENV) .modelbox
