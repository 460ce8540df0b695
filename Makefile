# mcpdiag — developer entry points. `make test` bootstraps everything it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-mcp1 lint typecheck bench bench-quick clean

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

# A second environment with the latest MCP SDK 1.x: the SDK-dependent tests run there too, so hosts pinned
# to `mcp<2` get the same diagnostics. `test` has everything the tests need but fastmcp (which needs 2.x).
VENV1  := .venv-mcp1
PY1    := $(VENV1)/bin/python
STAMP1 := $(VENV1)/.installed-mcp1
MCP1_TESTS := tests/e2e/test_failure_zoo.py tests/e2e/test_failure_zoo_2026.py tests/emitters/test_classifier.py \
	tests/emitters/mcp tests/api/test_doctor.py tests/api/test_doctor_cli.py tests/api/test_doctor_ssrf.py

$(PY1):
	$(PYTHON) -m venv $(VENV1)
	$(PY1) -m pip install --quiet --upgrade pip

$(STAMP1): pyproject.toml | $(PY1)
	$(PY1) -m pip install --quiet -e '.[server,mcp,test]' 'mcp>=1.28,<2'
	touch $(STAMP1)

test-mcp1: $(STAMP1)
	$(PY1) -m pytest -q $(MCP1_TESTS)

# Browser tests drive Debian's chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

test: $(STAMP) $(STAMP1) $(CHROMIUM)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-mcp1

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every benchmark, one table (printed and written to bench/results/bench.md); `make bench-quick` for a smoke run.
bench: $(STAMP) $(STAMP1)
	$(PY) bench/run_all.py

bench-quick: $(STAMP) $(STAMP1)
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) $(VENV1) .pytest_cache .mypy_cache .ruff_cache
