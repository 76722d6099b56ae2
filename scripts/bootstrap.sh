#!/usr/bin/env bash
# Create .venv and install the project with pinned versions (constraints.txt).
# Usage: scripts/bootstrap.sh [extra]   e.g. "test" installs the test dependencies too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
extra="${1:-}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check uv 2>/dev/null || true
spec="."
[ -n "$extra" ] && spec=".[$extra]"
# constraints.txt pins what CI tests with (Python 3.11); other Pythons resolve freely.
pins=()
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  pins=(-c constraints.txt)
fi
if [ -x .venv/bin/uv ]; then
  .venv/bin/uv pip install -q --python .venv/bin/python "${pins[@]}" -e "$spec"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check "${pins[@]}" -e "$spec"
fi
# Bytecode, once per dependency set. uv does not write .pyc files and this machine (like many CI
# images) sets PYTHONDONTWRITEBYTECODE=1, so without this every process compiles every module it
# imports from source: an Airflow task process parsing a flow file spent ~4 s compiling the
# Kubernetes client alone (docs/operations.md, "Bytecode"). Production images compile too (pip does
# by default; see docker/Dockerfile).
stamp=".venv/.bytecode-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-${extra:-base}"
if [ ! -f "$stamp" ]; then
  echo "compiling bytecode for .venv (once per dependency set) ..." >&2
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null 2>&1 || true
  rm -f .venv/.bytecode-*
  touch "$stamp"
fi
# the project's own modules (editable install): only changed files are recompiled, well under 1 s
.venv/bin/python -m compileall -q airflow_ml_provider >/dev/null 2>&1 || true
