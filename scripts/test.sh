#!/usr/bin/env bash
# Install everything the tests need (Python packages, Chromium for UI tests) and run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
if [ "${1:-}" = "--fast" ]; then
  # the unit tier only (tests/conftest.py): no system packages, no Airflow database, no browser
  shift
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/lint-imports
  .venv/bin/mypy
  exec .venv/bin/python -m pytest -m unit "$@"
fi
if [ -f scripts/install_browser.sh ]; then
  bash scripts/install_browser.sh
fi
bash scripts/install_postgres.sh  # PostgreSQL binaries for the running-Airflow tests
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # layer contracts: .importlinter
.venv/bin/mypy  # [tool.mypy] in pyproject.toml
# two workers (PYTEST_WORKERS), grouped by module (tests/conftest.py): 2 cores, and most tests wait
# on subprocesses and servers; PYTEST_WORKERS=0 runs in one process
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
