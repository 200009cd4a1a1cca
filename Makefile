# The two set-up commands: `make run` and `make test`. Only Python 3.11+ is needed beforehand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-all lint schema token bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per flavour: re-installs only when the lock files or pyproject change.
$(VENV)/.embedded: $(BIN)/python pyproject.toml requirements/base.txt requirements/embedded.txt
	$(PIP) install -r requirements/embedded.txt
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.embedded requirements/dev.txt
	$(PIP) install -r requirements/dev.txt
	touch $@

run: $(VENV)/.embedded  ## start the embedded database and the service on 127.0.0.1:$${PORT:-8000}
	$(BIN)/rebates serve

# The graphql-http audit (tests/api/test_graphql_http_audit.py) runs on Node, with the npm
# packages package-lock.json pins; npm writes this file when it installs them. Without npm the
# audit test is skipped, so Python alone still runs everything else.
node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the graphql-http audit test will be skipped"; fi

# TESTS: which tests `make test` runs (a pytest -m expression). By default all but the
# `slow` ones (the crash, browser and several-process tests: about half the suite's time);
# `make test-all`, which CI runs (.ci/run), runs every test.
TESTS ?= not slow

test: $(VENV)/.dev node_modules/.package-lock.json  ## lint, types, then the suite (all but the slow tests) against a real embedded server
	$(BIN)/ruff check .
	$(BIN)/mypy domain service schema resolvers
	$(BIN)/python -m pytest $(if $(TESTS),-m "$(TESTS)")
	@$(if $(TESTS),echo "make test ran the tests of -m '$(TESTS)'; make test-all (CI) runs the slow ones too")

test-all:  ## everything make test does, and the slow tests (crash, browser, several processes): what CI runs
	$(MAKE) test TESTS=

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy domain service schema resolvers

schema: $(VENV)/.embedded  ## re-export schema.graphql from the code
	$(BIN)/python -m schema > schema.graphql

token: $(VENV)/.embedded  ## print an ADMIN token for scripts (uses the data directory's secret)
	$(BIN)/rebates token --role ADMIN

# BENCH_ARGS: e.g. --smoke (2 minutes, small data; add --out /tmp/bench.md to leave
# BENCHMARKS.md alone), --durability, --profile; see `python tools/bench.py --help`.
bench: $(VENV)/.dev  ## issue 12's table: import 200,000 transactions, accruals, CRM page, live latency; writes BENCHMARKS.md
	$(BIN)/python tools/bench.py $(BENCH_ARGS)

# Re-resolve the pins from pyproject.toml in a throw-away venv (needs the package index; not
# part of `make test`): base.txt = the runtime, embedded.txt = what [embedded] adds on top,
# dev.txt = what [dev] adds on top of both. Header comments and -r lines are kept; the files
# are replaced only once all three resolved. LOCK_DIR=/tmp/x writes elsewhere to compare.
LOCK_VENV ?= $(or $(TMPDIR),/tmp)/rebates-lock-venv
LOCK_DIR  ?= requirements
lock:  ## regenerate requirements/*.txt (pip freeze of a clean venv per layer)
	set -e; rm -rf $(LOCK_VENV); $(PYTHON) -m venv $(LOCK_VENV); \
	pip="$(LOCK_VENV)/bin/python -m pip --disable-pip-version-check -q"; \
	freeze() { $(LOCK_VENV)/bin/python -m pip freeze --exclude rebates; }; \
	mkdir -p $(LOCK_DIR); : > $(LOCK_VENV)/seen; \
	for layer in base:. embedded:.[embedded] dev:.[dev]; do \
	  name=$${layer%%:*}; $$pip install "$${layer#*:}"; \
	  { grep -E '^(#|-r )' requirements/$$name.txt; \
	    freeze | grep -vxF -f $(LOCK_VENV)/seen || true; } > $(LOCK_VENV)/$$name.txt; \
	  freeze > $(LOCK_VENV)/seen; \
	done; \
	for name in base embedded dev; do cp $(LOCK_VENV)/$$name.txt $(LOCK_DIR)/$$name.txt; done; \
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
