# Assay: every target works on a fresh machine; `make demo` and `make test` are the quickstart.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo up test lint typecheck unit integration e2e clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

install: $(STAMP)

up: install
	$(BIN)/python -m shared.local.stack

demo: install
	$(BIN)/python -m shared.local.demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared functions validators cli

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	$(BIN)/pytest -q tests/e2e

test: lint typecheck
	$(BIN)/pytest -q -ra tests

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
