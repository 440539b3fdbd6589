#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv"
  # A system Python (PEP 668) refuses plain --user installs; try the forms that work there too.
  python3 -m pip install --quiet --user uv 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null ||
    python3 -m pip install --quiet uv
  command -v uv >/dev/null 2>&1 || { echo "setup: could not install uv (pip install uv)" >&2; exit 1; }
fi
command -v java >/dev/null || { echo "setup: Java 17+ is required (java not found)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "setup: Maven is required to fetch the Kafka jars (mvn not found)" >&2; exit 1; }
uv sync --all-packages --frozen --quiet
bash deploy/local/kafka.sh fetch
