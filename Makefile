PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm packages of the federation tests, installed only where Node is (else those tests skip).
FEDERATION := tests/federation
NPM_STAMP := $(FEDERATION)/node_modules/.package-lock.json
NPM_DEPS := $(if $(shell command -v node >/dev/null && command -v npm),$(NPM_STAMP))

# Debian's Chromium for the browser tests (Playwright drives it; it cannot download its own).
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
# The dashboard's third-party assets, pinned; `make vendor` refreshes them from the npm registry.
VENDOR := modelbox/server/web/static/vendor
VENDOR_PACKAGES := graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 uplot@1.6.32

# The framework loggers' tests train tiny models with the real packages. torch 2.13.0 is the
# CPU build this machine keeps on disk (elsewhere PyPI's torch brings CUDA: several GB).
INTEGRATIONS := 'torch==2.13.0' lightning transformers accelerate

.PHONY: install serve test test-browser test-integrations screenshots lint format schema bench vendor clean

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
	@test -n "$(CHROMIUM)" || echo "Chromium is not installed: the browser tests (tests/browser) are skipped; 'make test-browser' installs it and runs them."
	@$(BIN)/python -c "import torch, lightning, transformers, accelerate" 2>/dev/null || echo "PyTorch, Lightning or transformers is not installed: the framework logger tests (tests/integrations) are skipped; 'make test-integrations' installs them and runs them."
	$(BIN)/pytest

test-browser: $(STAMP)
	@test -n "$(CHROMIUM)" || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/pytest tests/browser

# The pictures in the README: the browser tests, saving what each page looked like.
screenshots: $(STAMP)
	MODELBOX_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser

vendor:
	rm -rf .vendor && mkdir .vendor
	cd .vendor && npm pack --silent $(VENDOR_PACKAGES) && for f in *.tgz; do mkdir "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	cp .vendor/graphiql-*/package/graphiql.min.js .vendor/graphiql-*/package/graphiql.min.css $(VENDOR)/
	cp .vendor/react-1*/package/umd/react.production.min.js $(VENDOR)/
	cp .vendor/react-dom-*/package/umd/react-dom.production.min.js $(VENDOR)/
	cp .vendor/uplot-*/package/dist/uPlot.iife.min.js .vendor/uplot-*/package/dist/uPlot.min.css $(VENDOR)/
	rm -rf .vendor

# Opt-in: installs PyTorch, Lightning and transformers into .venv (make test then runs these
# tests too; without the packages it skips them and says why).
test-integrations: $(STAMP)
	$(BIN)/pip install --quiet $(INTEGRATIONS)
	$(BIN)/pytest tests/integrations

bench: $(STAMP) $(NPM_DEPS)
	$(BIN)/python bench/nested_query.py
	$(BIN)/python bench/artifacts.py
	$(BIN)/python bench/federation.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/client.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/policies.py

clean:
	rm -rf $(VENV) .modelbox
