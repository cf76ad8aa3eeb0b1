# Ledgerline: the two commands a newcomer needs.
#   make run   install what is missing, migrate, serve http://127.0.0.1:8000 (embedded defaults) while the demo loads
#   make test  install test needs, start PostgreSQL/Redis if down, lint, run the whole suite
SHELL := /bin/bash
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export NUMBA_CACHE_DIR ?= $(CURDIR)/var/numba-cache
export MPLBACKEND := Agg

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ledgerline
TEST_BROKER_URL ?= redis://127.0.0.1:6379/9

.PHONY: run setup setup-dev test lint demo serve schema

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh dev

# The server answers within a minute of the installs; the demo (chorales, models, a screened track) loads in the
# background as jobs the web process runs, and the dashboard shows their progress. serve_demo = migrate,
# collectstatic, load_demo --background and runserver without autoreloader (it would restart the process, and
# the demo's jobs with it), in one process.
run: setup
	$(PY) manage.py serve_demo 127.0.0.1:8000

# The static checks, in the order `make test` runs them (and .pre-commit-config.yaml): lint, format, the import
# rules of pyproject.toml ([tool.importlinter]), then types ([tool.mypy]: strict on the engines).
lint: setup-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy

test: setup-dev
	scripts/services.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) .venv/bin/pytest -q $(PYTEST_ARGS)

schema: setup
	$(PY) manage.py spectacular --file schema.yml
