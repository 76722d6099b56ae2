#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the end-to-end tests (tests/fixtures/postgres.py
# creates a throw-away cluster in a temporary folder with initdb and runs it as an unprivileged
# user). Idempotent: does nothing when an initdb is already there. No system service is started
# or enabled. Needs root (CI containers run as root). The Python driver (psycopg2-binary) comes
# from the `test` extra in pyproject.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  echo "postgresql already installed: $(ls /usr/lib/postgresql/*/bin/initdb | head -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# policy-rc.d 101: the package's postinst must not start a cluster service.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y --no-install-recommends postgresql
ls /usr/lib/postgresql/*/bin/initdb
