# Customer onboarding automation on Apache Airflow 3.
#
#   make demo    onboardings on Airflow's own scheduler in minutes (MONTH=1: the full month; UI=1 leaves the UI up;
#                CELERY=1: on the CeleryExecutor with two workers and an embedded broker)
#   make test    lint, type-check and run the whole test suite
#   make test-distributed   the CeleryExecutor with two workers, one lost mid-run (minutes)
#   make test-stack  the whole-stack runs left out of `make test` (the distributed ones included)
#   make stop    stop anything the demo left running
#   make bench   benchmarks; figures in bench/results.json
#
# Everything installs into ./.venv from requirements*.txt, pinned by constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: install browser demo stop test test-distributed test-stack lint typecheck pytest unit bench lock clean

$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 13) else "This package needs Python 3.11, 3.12 or 3.13, and $(PYTHON) is %d.%d: run make with PYTHON=python3.11 (or 3.12, 3.13)" % v)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) -r requirements.txt -r requirements-local.txt -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m localstack demo $(if $(filter-out 0,$(UI)),--ui) $(if $(filter-out 0,$(MONTH)),--month) $(if $(filter-out 0,$(CELERY)),--celery)

stop: install
	$(PY) -m localstack stop

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --select AIR --preview dags include plugins
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# The portal's browser tests drive headless Chromium: install Debian's chromium and its driver when missing.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && apt-get install -y chromium chromium-driver; \
	else \
	  echo "The portal's browser tests need Chromium and its driver: run 'sudo apt-get install -y chromium chromium-driver' (or your system's equivalent); until then they are skipped."; \
	fi

pytest: install browser
	$(PY) -m pytest

test: lint typecheck pytest

# Tests marked distributed (left out of `make test`): the CeleryExecutor with a real broker and two workers.
test-distributed: install
	$(PY) -m pytest -m distributed -q -s

# Whole-stack runs (left out of `make test`, minutes each): a month on the real scheduler, `make demo`
# interrupted at random moments, and the CeleryExecutor with a worker lost.  CI runs them after `make test`.
test-stack: install
	$(PY) -m pytest -m "stack or distributed" -q

# Tests marked unit: no database (the vendor clients' tests use the sandbox on loopback).
unit: install
	$(PY) -m pytest -m unit -q

bench: install
	$(PY) -m bench

# Re-resolve the runtime dependencies and rewrite constraints.txt (the lock).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install $(PIP_FLAGS) --upgrade pip
	.lock-venv/bin/pip install $(PIP_FLAGS) -r requirements.txt -r requirements-local.txt
	( echo "# Full lock of requirements.txt and requirements-local.txt, resolved by 'make lock'. Install with -c constraints.txt."; \
	  .lock-venv/bin/pip freeze --exclude-editable | LC_ALL=C sort -f ) > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache
