# Procure-to-pay: set up, run and test on a machine with Python 3.11+, Node/npm, Postgres
# and Redis. `make run` and `make test` are the two commands most people need.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Prerequisites below are steps in order (install before db before migrate ...).
.NOTPARALLEL:

# Settings read the environment only; a local .env (see .env.example) is exported to every
# command run from here. Write it as plain KEY=value lines, without quotes.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*=.*/\1/p' .env)
endif

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MANAGE := $(PY) manage.py
RUN_DIR := run
PY_STAMP := $(VENV)/.p2p-installed
NPM_STAMP := node_modules/.p2p-installed
N ?= 100000
# Extra arguments for pytest, e.g. make test ARGS="-k matching -x"
ARGS ?=
# Test processes (pytest-xdist), each with its own database; 0 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: help venv install check-services db migrate collectstatic seed run test lint typecheck fmt \
	worker beat bench bench-match bench-dashboard bench-csv clean distclean

help:
	@echo "make run             set everything up and run the platform with demo data at http://127.0.0.1:8000/ (PORT=8001 for another port)"
	@echo "make test            run the test suite on real Postgres and Redis (ARGS=... for pytest, TEST_WORKERS=n processes)"
	@echo "make install         create $(VENV) and install Python and npm dependencies (alias: venv)"
	@echo "make check-services  check that Postgres (DATABASE_URL) and Redis (REDIS_URL) answer"
	@echo "make db              create the database roles, the database and the app role's grants"
	@echo "make migrate         apply migrations (as the owner role)"
	@echo "make seed            load the demo data (idempotent)"
	@echo "make worker / beat   run a Celery worker / the beat scheduler in the foreground"
	@echo "make typecheck       check types with mypy (django-stubs, strict on services and selectors)"
	@echo "make lint / fmt      lint: ruff, the import contract and mypy; fmt: fix formatting"
	@echo "make bench           matching benchmark (N=$(N) invoices)"
	@echo "make bench-dashboard KPI rollup and dashboard benchmark at 10k and 1M invoices (own database)"
	@echo "make bench-csv       CSV import of N=$(N) invoice lines: time and peak memory (own database)"
	@echo "make clean           remove collected static files, run/ and caches (distclean: also $(VENV) and node_modules)"

# --- install -------------------------------------------------------------------------------

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run make with PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml changes (or the venv is new). The project has no
# installable packages (the code runs from this checkout); this installs its dependencies.
$(PY_STAMP): pyproject.toml requirements.lock | $(PY)
	@echo "Installing Python dependencies into $(VENV): about 1-2 minutes the first time, one line per package ..."
	$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) install --disable-pip-version-check --progress-bar off -c requirements.lock -e '.[dev]' \
		| { grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed)' || true; } \
		| sed -u -e 's/^Collecting /  /' -e 's/^Installing collected.*/  installing .../' \
			-e 's/^Successfully installed.*/  done/'
	@rm -rf p2p.egg-info
	@touch $@

# htmx and Chart.js, served by Django from node_modules (STATICFILES_DIRS).
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is not installed: install Node.js with npm (sudo apt-get install nodejs npm / brew install node)" >&2; exit 1; }
	@echo "Installing htmx and Chart.js with npm ci (a few seconds) ..."
	npm ci --no-audit --no-fund
	@touch $@

install: $(PY_STAMP) $(NPM_STAMP)

venv: install

# --- services and database -----------------------------------------------------------------

# Standard library only: runs before the venv exists.
check-services:
	@$(PYTHON) scripts/check_services.py

# Owner and app roles, the database and the grants (DATABASE_ADMIN_URL, DATABASE_OWNER_URL,
# DATABASE_URL; see .env.example). Idempotent.
db: install check-services
	$(PY) scripts/db_roles.py

# Migrations run as the owner role; everything else connects as the app role.
migrate: install db
	DATABASE_ROLE=owner $(MANAGE) migrate --noinput

collectstatic: install
	$(MANAGE) collectstatic --noinput -v 0

seed: migrate
	$(MANAGE) seed_demo

# --- run -----------------------------------------------------------------------------------

# Worker and beat in the background (logs and pid files in run/), the dev server in the
# foreground; Ctrl-C stops all three.
run: install check-services db migrate collectstatic seed
	VENV=$(VENV) scripts/run.sh

worker: install check-services
	$(VENV)/bin/celery -A p2p worker -l info

beat: install check-services
	@mkdir -p $(RUN_DIR)
	$(VENV)/bin/celery -A p2p beat -l info -s $(RUN_DIR)/celerybeat-schedule

# --- quality -------------------------------------------------------------------------------

# Tests build their own databases as the owner role (TEST_DATABASE_NAME, default test_p2p,
# with _gw0, _gw1 ... per xdist process) and say so while they migrate; `make db` creates
# the roles.
test: install check-services db
	$(VENV)/bin/pytest --create-db -n $(TEST_WORKERS) $(ARGS)

# The import contract (pyproject.toml [tool.importlinter]): the core imports no app, apps
# depend downward only.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy .

# Configured in pyproject.toml ([tool.mypy]); settings are imported, no database is needed.
typecheck: install
	$(VENV)/bin/mypy .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: bench-match

# Writes into its own database (p2p_bench).
bench-match: install check-services db
	$(PY) bench/match.py --n $(N)

# Writes into its own database (p2p_kpibench); ends with the p95 line.
bench-dashboard: install check-services db
	$(PY) bench/dashboard.py

# Writes into its own database (p2p_csvbench); ends with the time and peak memory line.
bench-csv: install check-services db
	$(PY) bench/csv_import.py --n $(N)

# --- housekeeping --------------------------------------------------------------------------

clean:
	rm -rf staticfiles $(RUN_DIR) bench/out .pytest_cache .ruff_cache .mypy_cache build p2p.egg-info
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
