# `make run` and `make test` do all set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit install clean sandbox-down bench

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

# Integration tests start their own Temporal dev server (tests/conftest.py).
test: lint
	$(BIN)/pytest -q -p no:cacheprovider

sandbox-down: $(STAMP)
	$(BIN)/opsdeck sandbox down

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
