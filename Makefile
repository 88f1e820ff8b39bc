# Courtier developer entry points. Needs only python3.11 (and make) on the machine.
#
#   make run            SQLite + filesystem broker + Celery worker/beat + localstripe + demo data
#   make test           pytest against PostgreSQL and Redis on localhost (PYTEST_ARGS=... passed on)
#   make lint           ruff check, ruff format --check, mypy, makemigrations --check
#   make typecheck      mypy on the services, selectors and models (strict on payments/)
#   make schema         write the OpenAPI schema to docs/openapi.yaml (validated; commit it)
#   make lock           regenerate requirements.lock and requirements-dev.lock (hashes) from the .txt files
#   make audit          pip-audit: no known vulnerability in requirements.lock and requirements-dev.lock
#   make bench-consent  consent benchmark (bench/consent.py)
#   make bench-segments segment sizing benchmark (bench/segments.py)
#   make bench-settle   settlement benchmark (bench/settle.py)
#   make bench-ledger   ledger benchmark (bench/ledger.py)
#   make chaos          the seeded fault run, long profile (tests/integration/test_chaos.py; CHAOS_SEED, CHAOS_TRADES, CHAOS_FAULTS...)
#   make bench-pages    seller pages (1,000 trades) vs a bare base.html render (bench/pages.py)
#
# Variables: PYTHON (interpreter that creates .venv), PYTEST_ARGS, RUN_SECONDS, RUN_PORT,
# STRIPE_PORT, COURTIER_RUN_DIR, DATABASE_URL, CELERY_BROKER_URL (see scripts/run.py).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3.11)
VENV := .venv
VPY := $(VENV)/bin/python

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/courtier
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: help venv lock audit schema schema-check run test chaos lint typecheck format bench-consent bench-segments bench-settle bench-ledger clean-run

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# Creates .venv if missing; reinstalls requirements-dev.lock (hash-checked) only when it changed.
venv:
	@$(PYTHON) scripts/ensure_venv.py --venv $(VENV) --python $(PYTHON) --requirements requirements-dev.lock

# requirements.txt / requirements-dev.txt are the human-edited direct pins; the locks pin the whole
# transitive closure with hashes for CPython 3.11 on Linux x86_64. The dev lock is constrained to
# the production lock, so both install the same version of every shared package. uv keeps the
# versions already locked unless told otherwise: `make lock LOCK_UPGRADE=--upgrade` moves the
# transitive pins to the newest releases that fit.
LOCK_UPGRADE ?=
LOCK_ARGS := --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock" $(LOCK_UPGRADE)
lock: venv
	$(VENV)/bin/uv pip compile $(LOCK_ARGS) --output-file requirements.lock requirements.txt
	$(VENV)/bin/uv pip compile $(LOCK_ARGS) --constraints requirements.lock \
		--output-file requirements-dev.lock requirements-dev.txt

# Known vulnerabilities of every pinned version in both locks, from PyPI's JSON API (scripts/audit.py
# says more). Fails when one has any, and when the service does not answer. AUDIT_ARGS go to pip-audit.
AUDIT_ARGS ?=
audit: venv
	$(VPY) scripts/audit.py $(AUDIT_ARGS)

# The committed OpenAPI schema: tests/test_openapi_schema.py fails when it differs from the code's.
SCHEMA_CMD := DJANGO_SETTINGS_MODULE=config.settings.test $(VPY) manage.py spectacular --validate --fail-on-warn
schema: venv
	$(SCHEMA_CMD) --file docs/openapi.yaml
	$(VENV)/bin/openapi-spec-validator docs/openapi.yaml

schema-check: venv
	@tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; $(SCHEMA_CMD) --file "$$tmp"; \
	diff -u docs/openapi.yaml "$$tmp" >/dev/null || { echo "docs/openapi.yaml is stale: run make schema"; exit 1; }

run: venv
	export DJANGO_SETTINGS_MODULE=config.settings.local; \
	$(VPY) manage.py migrate --noinput; \
	exec $(VPY) scripts/run.py  # seeds the demo data once the Stripe sandboxes answer

test: venv
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	DJANGO_SETTINGS_MODULE=config.settings.test \
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The fault run of `make test` (pytest -m chaos), with more trades, sellers and faults, its output
# shown: faults injected by kind, what was settled, captured and paid out, and last
# `faults=<n> trades=<n> settled=<n> invariant_violations=<n>`. CHAOS_SEED=<n> replays a schedule.
CHAOS_TRADES ?= 1000
CHAOS_FAULTS ?= 40
CHAOS_ARRIVAL_SECONDS ?= 60
CHAOS_BUYERS ?= 10
CHAOS_SELLERS ?= 60
CHAOS_DRAIN_SECONDS ?= 240
chaos: venv
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	DJANGO_SETTINGS_MODULE=config.settings.test \
	CHAOS_TRADES=$(CHAOS_TRADES) CHAOS_FAULTS=$(CHAOS_FAULTS) CHAOS_ARRIVAL_SECONDS=$(CHAOS_ARRIVAL_SECONDS) \
	CHAOS_BUYERS=$(CHAOS_BUYERS) CHAOS_SELLERS=$(CHAOS_SELLERS) CHAOS_DRAIN_SECONDS=$(CHAOS_DRAIN_SECONDS) \
	$(VENV)/bin/pytest tests/integration/test_chaos.py -m chaos -s -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	DJANGO_SETTINGS_MODULE=config.settings.local $(VPY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory schema-check

# Files and strictness are in pyproject.toml ([tool.mypy]).
typecheck: venv
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-consent: venv
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	$(VPY) bench/consent.py

bench-segments: venv
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	$(VPY) bench/segments.py

# once with no Stripe rate limit, once at Stripe's live 100/s, once at test mode's 25/s (informative)
bench-settle: venv
	$(VPY) bench/settle.py --stripe-rate-limits off,100,25 $(BENCH_ARGS)

bench-ledger: venv
	$(VPY) bench/ledger.py

# Forget make run's local state (SQLite database, broker messages, beat schedule, logs, demo key).
clean-run:
	rm -rf .run db.sqlite3

#   make bench-bids     bids over HTTP vs a bare DRF insert (bench/bids.py; wrk if installed)
.PHONY: bench-bids
bench-bids: venv
	$(VPY) bench/bids.py $(BENCH_ARGS)

#   make bench-api      the five busiest API operations vs a bare DRF endpoint (bench/api.py; wrk if installed)
.PHONY: bench-api
bench-api: venv
	$(VPY) bench/api.py $(BENCH_ARGS)

.PHONY: bench-pages
bench-pages: venv
	$(VPY) bench/pages.py $(BENCH_ARGS)

#   make load           sellers and advertisers under locust for LOAD_SECONDS (300), then the invariant check (bench/load.py)
# LOAD_USERS (10), LOAD_SECONDS (300), LOAD_STEPS (e.g. 10,20,40: user counts stepped first,
# LOAD_STEP_SECONDS each) are read from the environment; LOAD_DATABASE_URL, LOAD_REDIS_URL.
.PHONY: load
load: venv
	$(VPY) bench/load.py $(BENCH_ARGS)
