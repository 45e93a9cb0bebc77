# Roster: `make run` starts everything on the embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test lint format bench drills ci

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

install: $(UV)
	$(UV) sync --frozen --quiet

# Development run on the embedded defaults (SQLite, file cache, filesystem broker).
run: export DEBUG ?= true
run: install
	$(VENV)/bin/python manage.py migrate --noinput
	$(VENV)/bin/python manage.py ensure_admin
	$(VENV)/bin/python manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/honcho start --procfile Procfile

# The whole suite. TEST_WORKERS=2 runs it in two processes (pytest-xdist, --dist load so each
# worker keeps pytest-django's order; each has its own var directory, Redis test database and
# PostgreSQL test database: see tests/parallel.py); the default, 0, runs it in this process,
# which CI uses until every test is known to pass in parallel (docs/operations.md). With
# DATABASE_URL / REDIS_URL set it runs on PostgreSQL and Redis. One file:
# make test PYTEST_ARGS=tests/x.py
TEST_WORKERS ?= 0
test: install
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(VENV)/bin/python bench/run.py

# Fault drills on a PostgreSQL cluster and a Redis of their own: make drills DRILLS="--only redis"
drills: install
	$(VENV)/bin/python bench/drills/run.py $(DRILLS)

ci:
	.ci/run
