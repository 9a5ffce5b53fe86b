# `make run` and `make test` do all set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit install clean sandbox-down bench prometheus-bin chromium-bin

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# Byte-compile now: start-up time matters and some shells set PYTHONDONTWRITEBYTECODE.
	$(BIN)/python -m compileall -q console adapters chaos
	touch $(STAMP)

install: $(STAMP)

# Starts the local sandbox (Temporal dev server + demo workers) and opens the TUI on it.
run: $(STAMP)
	$(BIN)/opsdeck sandbox up
	$(BIN)/opsdeck --context sandbox

lint: $(STAMP)
	$(BIN)/ruff check console adapters chaos tests bench
	$(BIN)/ruff format --check console adapters chaos tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Debian's prometheus for tests/integration/test_prometheus.py (needs root when missing).
# The package's postinst may start a service on :9090; it is stopped right after the
# install (the tests start their own Prometheus on free ports).
prometheus-bin:
	@command -v prometheus >/dev/null || ( \
	  apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus && \
	  (systemctl disable --now prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true))

# Headless Chromium renders the incident report's HTML in tests (tests/integration/test_incident_report.py).
chromium-bin:
	@command -v chromium >/dev/null || ( \
	  apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

# Integration tests start their own Temporal dev server (tests/conftest.py).
test: lint prometheus-bin chromium-bin
	$(BIN)/pytest -q -p no:cacheprovider

sandbox-down: $(STAMP)
	$(BIN)/opsdeck sandbox down

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
