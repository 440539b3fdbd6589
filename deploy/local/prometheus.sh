#!/usr/bin/env bash
# Prometheus (server + promtool) for the ops test (tests/ops) and for watching a local stack,
# from Debian's package `prometheus`. Idempotent; installs only when missing. Prometheus builds
# downloaded from anywhere else are not used (and fail offline).
#
#   prometheus.sh           install when missing (needs root or sudo), then print the version
#   prometheus.sh check     exit 0 when prometheus and promtool are installed, 1 otherwise
set -euo pipefail

have() { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; }

if [ "${1:-}" = check ]; then
  have
  exit $?
fi

if ! have; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus.sh: no apt-get here; install Prometheus 2.x (prometheus and promtool) yourself" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "prometheus.sh: needs root (or sudo) for apt-get" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "prometheus.sh: installing prometheus (Debian package)" >&2
  $SUDO apt-get update -qq
  # No recommends: the node exporter and its collectors are not needed here. The package's
  # service is not started in a container without systemd; the ops test runs its own server.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
prometheus --version 2>&1 | head -1
