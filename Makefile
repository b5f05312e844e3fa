# Two commands: `make run` (demo on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The real stack for the integration tier (override to point elsewhere).
INTEGRATION_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/npsapp
INTEGRATION_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run setup test test-unit test-integration lint format migrate messages deploy-check bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ not found: install it or run make PYTHON=/path/to/python3"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(PYTHON) is older than 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver $(HOST):$(PORT)

# Unit and view tests on SQLite, then the integration tier on the real stack
# (PostgreSQL, Redis, a Celery worker, an SMTP server, headless Chromium). The integration
# tier skips when those services are absent, except under CI=true, where it fails.
test: test-unit test-integration

test-unit: setup
	env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL -u EMAIL_URL $(PY) -m pytest tests --ignore=tests/integration -q

test-integration: setup
	DATABASE_URL=$(INTEGRATION_DATABASE_URL) REDIS_URL=$(INTEGRATION_REDIS_URL) \
	CELERY_BROKER_URL=$(INTEGRATION_REDIS_URL) CELERY_QUEUE=npsapp-test-$$$$ \
	$(PY) -m pytest tests/integration -q

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
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
