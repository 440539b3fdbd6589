#!/usr/bin/env bash
# Run every benchmark; each writes bench/results/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
started=0
if ! bash deploy/local/infra.sh status >/dev/null 2>&1; then started=1; fi
bash deploy/local/infra.sh up
eval "$(bash deploy/local/infra.sh env)"
cleanup() { if [ "$started" = 1 ]; then bash deploy/local/infra.sh down || true; fi; }
trap cleanup EXIT
for b in bench/*_bench.py; do
  echo "== $b"
  uv run --no-sync python "$b"
done
ls -l bench/results
