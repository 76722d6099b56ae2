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
