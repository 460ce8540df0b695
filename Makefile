# mcpdiag — developer entry points. `make test` bootstraps everything it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-calendar lint typecheck bench bench-quick clean

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

# From Debian: chromium for the browser tests (never a downloaded browser build), faketime for the calendar
# tests. Installed once, as root or through sudo.
DEBIAN_TOOLS := /usr/bin/chromium /usr/bin/faketime
$(DEBIAN_TOOLS) &:
	@if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium faketime

# Under libfaketime (`faketime '+40 days' make test`) only the calendar moves: monotonic time stays real
# (FAKETIME_DONT_FAKE_MONOTONIC) and this shim keeps libfaketime from breaking monotonic sleeps.
FAKETIME_SHIM := $(VENV)/faketime-monotonic-sleep.so
$(FAKETIME_SHIM): tests/calendar/monotonic_sleep.c | $(PY)
	cc -shared -fPIC -O2 -o $@ $<

test: $(STAMP) $(DEBIAN_TOOLS) $(FAKETIME_SHIM)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@case "$$LD_PRELOAD" in *faketime*) \
	  export FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD="$(CURDIR)/$(FAKETIME_SHIM):$$LD_PRELOAD";; esac; \
	$(PY) -m pytest

# The whole suite 40 days ahead and a year back (the suite must not depend on the calendar).
test-calendar: $(STAMP) $(DEBIAN_TOOLS)
	faketime '+40 days' $(MAKE) test
	faketime '-1 year' $(MAKE) test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every benchmark, one table (printed and written to bench/results/bench.md); `make bench-quick` for a smoke run.
bench: $(STAMP)
	$(PY) bench/run_all.py

bench-quick: $(STAMP)
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
