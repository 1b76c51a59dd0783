# Two commands for a fresh machine with Python 3.11+: `make demo` and `make test`.
# Both create .venv on first use and install the exact versions in constraints.txt; they
# reinstall only when pyproject.toml or constraints.txt changed. `make lock` refreshes the lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.yizhan-installed
LOCK := constraints.txt
DEMO_ARGS ?= --duration 30
PYTEST_ARGS ?=
# Most tests wait on brokers, databases and subprocesses, so twice as many workers as
# cores keeps both busy (tests/README.md has the timings). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 4
# PIP_CONSTRAINT pins what pip installs; the isolated build of the editable install ignores
# it, and takes its setuptools from the lock through --build-constraint (pip >= 25.3, which
# the first step installs from the lock).
PIP_INSTALL := PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/python -m pip install --quiet

.PHONY: demo test lint typecheck unit lock clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "yizhan needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) --build-constraint $(CURDIR)/$(LOCK) -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/yizhan demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=25 $(PYTEST_ARGS)

test: lint typecheck unit

# The newest versions pyproject.toml allows, resolved in a throw-away venv and frozen.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip setuptools
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	{ echo '# The exact versions `make` and CI install (pip constraints). Refresh: make lock'; \
	  echo '# Resolved with Python' "$$(.lock-venv/bin/python -c 'import platform; print(platform.python_version())')"; \
	  .lock-venv/bin/python -m pip freeze --all --exclude yizhan; } > $(LOCK)
	rm -rf .lock-venv build

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .yizhan
