# mcpdiag — developer entry points. `make test` bootstraps everything it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-calendar test-mcp1 test-js lint typecheck bench bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# `make demo` needs the service and the MCP SDK only; `make test` everything.
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server,mcp]'
	touch $(DEMO_STAMP)

# `make demo PORT=8001 INGEST_KEY=...` (or MCPDIAG_INGEST_KEYS in the environment) to point your own host at it.
PORT ?= 8000
demo: $(DEMO_STAMP)
	$(VENV)/bin/mcpdiag demo --port $(PORT) $(if $(INGEST_KEY),--ingest-key "$(INGEST_KEY)")

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A second environment with the latest MCP SDK 1.x: the SDK-dependent tests run there too, so hosts pinned
# to `mcp<2` get the same diagnostics. `test` has everything the tests need but fastmcp (which needs 2.x).
VENV1  := .venv-mcp1
PY1    := $(VENV1)/bin/python
STAMP1 := $(VENV1)/.installed-mcp1
MCP1_TESTS := tests/e2e/test_failure_zoo.py tests/e2e/test_failure_zoo_2026.py tests/e2e/test_cut_secrets.py tests/emitters/test_classifier.py \
	tests/emitters/mcp tests/doctor/test_doctor.py tests/cli/test_doctor_cli.py tests/doctor/test_doctor_ssrf.py

REDACTION_TESTS := tests/emitters/test_redact.py tests/emitters/test_redact_contexts.py \
	tests/emitters/test_redact_encodings.py tests/emitters/test_redact_walk.py tests/emitters/test_redact_linear.py \
	tests/emitters/test_redact_engines.py tests/emitters/test_redact_views.py tests/emitters/test_redact_base64.py

$(PY1):
	$(PYTHON) -m venv $(VENV1)
	$(PY1) -m pip install --quiet --upgrade pip

$(STAMP1): pyproject.toml | $(PY1)
	$(PY1) -m pip install --quiet -e '.[server,mcp,test]' 'mcp>=1.28,<2'
	touch $(STAMP1)

test-mcp1: $(STAMP1) $(FAKETIME_SHIM)
	@$(UNDER_FAKETIME) $(PY1) -m pytest -q $(MCP1_TESTS)

# From Debian: chromium for the browser tests (never a downloaded browser build), faketime for the calendar
# tests, prometheus for promtool (the alert rules' checks and unit tests), age for the encrypted bundles'
# interoperability tests. Installed once, as root or sudo.
DEBIAN_TOOLS := /usr/bin/chromium /usr/bin/faketime /usr/bin/promtool /usr/bin/age
$(DEBIAN_TOOLS) &:
	@if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	  chromium faketime prometheus age

# Under libfaketime (`faketime '+40 days' make test`) only the calendar moves: monotonic time stays real
# (FAKETIME_DONT_FAKE_MONOTONIC) and this shim keeps libfaketime from breaking monotonic sleeps.
FAKETIME_SHIM := $(VENV)/faketime-monotonic-sleep.so
$(FAKETIME_SHIM): tests/calendar/monotonic_sleep.c | $(PY)
	cc -shared -fPIC -O2 -o $@ $<
UNDER_FAKETIME = case "$$LD_PRELOAD" in *faketime*) \
  export FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD="$(CURDIR)/$(FAKETIME_SHIM):$$LD_PRELOAD";; esac;

test: $(STAMP) $(STAMP1) $(DEBIAN_TOOLS) $(FAKETIME_SHIM) test-js
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@$(UNDER_FAKETIME) $(PY) -m pytest
	@$(UNDER_FAKETIME) $(PY1) -m pytest -q $(MCP1_TESTS)
	@# The redaction tests again on the pure-Python candidate scan (what runs where Hyperscan does not).
	@MCPDIAG_REDACT_ENGINE=stdlib $(PY) -m pytest -q $(REDACTION_TESTS)

# The whole suite 40 days ahead and a year back (the suite must not depend on the calendar).
test-calendar: $(STAMP) $(DEBIAN_TOOLS)
	faketime '+40 days' $(MAKE) test
	faketime '-1 year' $(MAKE) test

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
bench: $(STAMP) $(STAMP1) $(NPM_STAMP)
	cd $(JS) && npm run --silent build
	$(PY) bench/run_all.py

bench-quick: $(STAMP) $(STAMP1) $(NPM_STAMP)
	cd $(JS) && npm run --silent build
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) $(VENV1) .pytest_cache .mypy_cache .ruff_cache
