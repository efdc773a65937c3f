# Assay: every target works on a fresh machine; `make demo` and `make test` are the quickstart.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Tools whose pins clash with the product's get a virtualenv each: tools/NAME.txt
# (exact pins) becomes .tools/NAME/.
TOOLS := .tools
# The suite waits on emulators and stand-ins more than it computes: two workers, each
# taking whole files (module fixtures such as a stack stay one per file).
PARALLEL ?= -n 3 --dist loadfile
TOOL_STAMPS := $(patsubst tools/%.txt,$(TOOLS)/%/.installed-stamp,$(wildcard tools/*.txt))

.PHONY: install tools examples stage openapi demo up bench test test-fast lint typecheck unit integration e2e screenshots clean

# What the product needs from the machine itself: bubblewrap, the sandbox every engine
# runs in (validators/sandbox.py); setpriv comes with util-linux. The tests compile a
# native FMU with the C compiler. The console's browser tests (tests/browser) drive
# Debian's Chromium through its chromedriver: no browser download at test time.
SYSTEM_STAMP := $(VENV)/.system-stamp
$(SYSTEM_STAMP):
	command -v bwrap >/dev/null && command -v cc >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq bubblewrap gcc)
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	mkdir -p $(VENV) && touch $@

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml $(SYSTEM_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# axe-core, which the browser tests inject into each console page, pinned by
# tests/browser/package-lock.json.
AXE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(AXE)

$(TOOLS)/%/.installed-stamp: tools/%.txt
	rm -rf $(TOOLS)/$*
	$(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install -q --disable-pip-version-check -r $<
	touch $@

# The official JSON-Schema-Test-Suite, as the pinned jsonschema's sdist ships it.
SUITE := $(TOOLS)/json-schema-test-suite/.installed-stamp
$(SUITE): constraints.txt
	rm -rf $(TOOLS)/json-schema-test-suite && mkdir -p $(TOOLS)/json-schema-test-suite/dl
	$(PYTHON) -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
		"$$(grep '^jsonschema==' constraints.txt)" -d $(TOOLS)/json-schema-test-suite/dl
	tar xzf $(TOOLS)/json-schema-test-suite/dl/jsonschema-*.tar.gz -C $(TOOLS)/json-schema-test-suite \
		--strip-components=2 --wildcards '*/json/tests/*'
	touch $@

tools: $(TOOL_STAMPS) $(SUITE)

# The example FMUs, built from Python classes with pythonfmu (not committed: binaries).
FMUS := examples/Tank.fmu examples/TankFailing.fmu
examples/Tank.fmu: examples/tank.py $(STAMP)
	$(BIN)/pythonfmu build -f $< -d examples
examples/TankFailing.fmu: examples/tank_failing.py $(STAMP)
	$(BIN)/pythonfmu build -f $< -d examples

examples: $(FMUS)

# The folder Cloud Functions deploys: main.py at its root, the product, exact pins.
stage: install
	$(BIN)/python tools/stage.py build/functions

# docs/openapi.json, the API's contract, from the models (a test keeps it current).
openapi: install
	$(BIN)/python tools/openapi.py

up: install
	$(BIN)/python -m devstack.stack

demo: install examples
	$(BIN)/python -m devstack.demo

# Every performance figure against its budget, as ratios measured in one run: a table on
# stdout and bench/results.json (README "Performance").
bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared functions validators cli devstack tools

unit: install tools
	$(BIN)/pytest -q tests/unit

integration: install tools
	$(BIN)/pytest -q tests/integration

e2e: install tools
	$(BIN)/pytest -q tests/e2e

# The unit tests run first, in workers of their own: their engines' sandboxes fork from
# pytest, and a fork from a process that has used the Firestore client's gRPC can fail
# before bubblewrap starts (seen once in CI; the deployed functions do not fork so).
test: lint typecheck tools examples
	$(BIN)/pytest -q -ra $(PARALLEL) tests/unit
	$(BIN)/pytest -q -ra $(PARALLEL) tests --ignore=tests/unit

# The inner loop (under 90 s here): lint, types, the unit tests, the persistence contract
# and the service tests, on the memory twin (no emulator; tests marked `firestore`
# wait for `make test`, which runs everything on the emulator).
SERVICE_TESTS := $(addprefix tests/integration/test_,$(addsuffix .py,flows storms \
	run_control reconcile workflows repin resources assertions receipt_expiry big_outputs \
	callback_identity callback_redaction retention api_keys api))

test-fast: lint typecheck tools examples
	$(BIN)/pytest -q -rfE -n 2 --repositories=memory tests/unit tests/contract $(SERVICE_TESTS)

# docs/console/*.png, the console's pages as the browser tests see them (docs/console.md).
screenshots: install
	ASSAY_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/browser

clean:
	rm -rf $(VENV) $(TOOLS) .local build .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules
