#!/usr/bin/env bash
# Install Debian's Chromium for the plugin's real-browser UI test (tests/plugin/test_plugin_browser.py).
# Idempotent: does nothing when /usr/bin/chromium already exists. Needs root (CI containers run as root).
# The Python side (Playwright, driven against this binary) comes from the `test` extra in pyproject.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
