#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the console's browser tests (services/console/tests),
# from Debian's packages: `chromium` and `chromium-driver`. Idempotent; installs only what is
# missing. Browser builds downloaded from anywhere else are not used (and fail offline).
#
#   chromium.sh           install when missing (needs root or sudo), then print the versions
#   chromium.sh check     exit 0 when both are installed, 1 otherwise
set -euo pipefail

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if [ "${1:-}" = check ]; then
  have
  exit $?
fi

if ! have; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium.sh: no apt-get here; install chromium and its chromedriver yourself" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "chromium.sh: needs root (or sudo) for apt-get" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "chromium.sh: installing chromium and chromium-driver (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version 2>/dev/null
chromedriver --version
