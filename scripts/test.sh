#!/usr/bin/env bash
# Run the suite on real Kafka and PostgreSQL; stop only what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
started=0
if [ -z "${TTS_KAFKA_BOOTSTRAP:-}" ] || [ -z "${TTS_DATABASE_URL:-}" ]; then
  if ! bash deploy/local/infra.sh status >/dev/null 2>&1; then
    started=1
  fi
  bash deploy/local/infra.sh up
  eval "$(bash deploy/local/infra.sh env)"
fi
cleanup() { if [ "$started" = 1 ]; then bash deploy/local/infra.sh down || true; fi; }
trap cleanup EXIT
# The console's browser tests drive Debian's headless Chromium; without it they skip, saying why.
bash deploy/local/chromium.sh >/dev/null || echo "test.sh: chromium not installed (deploy/local/chromium.sh); the console browser tests will skip" >&2
# The ops test (tests/ops) runs Debian's Prometheus; without it that test fails, saying why.
bash deploy/local/prometheus.sh >/dev/null || echo "test.sh: prometheus not installed (deploy/local/prometheus.sh); tests/ops will fail" >&2
uv run --no-sync pytest "$@"
