# mcpdiag — developer entry points. `make test` bootstraps everything it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-js lint typecheck bench bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# `make demo` needs the service and the MCP SDK only; `make test` everything.
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server,mcp]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/mcpdiag demo

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests drive Debian's chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM) test-js
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

# The Node emitter (emitters/js): npm ci, tsc build and type check, then `node --test` with the redaction
# vectors the Python redactor makes now from fresh secrets (the collector test starts .venv's `mcpdiag serve`).
JS     := emitters/js
NPM_STAMP := $(JS)/node_modules/.installed
$(NPM_STAMP): $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

test-js: $(STAMP) $(NPM_STAMP)
	cd $(JS) && npm run --silent build && npm run --silent typecheck
	@vectors=$$(mktemp) && $(PY) -m mcpdiag.emitters.catalog_json --vectors $$vectors && \
	  (cd $(JS) && MCPDIAG_REDACTION_VECTORS=$$vectors npm test --silent); status=$$?; rm -f $$vectors; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every benchmark, one table (printed and written to bench/results/bench.md); `make bench-quick` for a smoke run.
bench: $(STAMP) $(NPM_STAMP)
	cd $(JS) && npm run --silent build
	$(PY) bench/run_all.py

bench-quick: $(STAMP) $(NPM_STAMP)
	cd $(JS) && npm run --silent build
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
