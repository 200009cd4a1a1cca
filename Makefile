# The two set-up commands: `make run` and `make test`. Only Python 3.11+ is needed beforehand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint schema token bench clean

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

test: $(VENV)/.dev  ## lint, types, then the whole suite against a real embedded server
	$(BIN)/ruff check .
	$(BIN)/mypy domain service schema resolvers
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy domain service schema resolvers

schema: $(VENV)/.embedded  ## re-export schema.graphql from the code
	$(BIN)/python -m schema > schema.graphql

token: $(VENV)/.embedded  ## print an ADMIN token for scripts (uses the data directory's secret)
	$(BIN)/rebates token --role ADMIN

bench: $(VENV)/.dev  ## import 200,000 transactions and run accruals; writes BENCHMARKS.md
	$(BIN)/python tools/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
